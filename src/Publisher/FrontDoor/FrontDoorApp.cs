using System.Text.Json;
using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Contracts;
using Hosting;

namespace Publisher.FrontDoor;

/// <summary>
/// The documented HTTP endpoints in front of the queues: each request becomes its operation's command, and is
/// answered with the status and body of the command's result event, verbatim.
/// </summary>
public static class FrontDoorApp
{
    const string CorrelationHeader = "X-Correlation-Id";


    /// <summary>
    /// Builds the front door on <paramref name="urls"/> with its bus started. Configuration comes from frontdoor.json,
    /// frontdoor.{environment}.json (the demo tokens with DOTNET_ENVIRONMENT=Development, in Debug builds only), the
    /// environment variables (<c>FrontDoor__ResultTimeout</c>), secret files and <paramref name="overrides"/>.
    /// </summary>
    public static async Task<WebApplication> BuildAsync(string[] urls, BrokerConnection broker,
        IEnumerable<KeyValuePair<string, string?>>? overrides = null, string? environment = null,
        string? metricsUrl = null)
    {
        // /metrics on a listener of its own (loopback by default), never on the API's: request counts, routes and the
        // runtime's figures are for the operator's scraper, not for the API's callers.
        var metricsPort = string.IsNullOrEmpty(metricsUrl) ? (int?)null : MetricsPort(metricsUrl);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory, EnvironmentName = environment,
        });
        builder.Configuration
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "frontdoor.json"), optional: true)
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, $"frontdoor.{builder.Environment.EnvironmentName}.json"), optional: true)
            .AddEnvironmentVariables()
            .AddSecretFiles()
            .AddInMemoryCollection(overrides ?? []);
        builder.WebHost.UseUrls(metricsUrl is { Length: > 0 } ? [.. urls, metricsUrl] : urls);
        // A taken address is told in one line by the serve command, not as the host's stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
        PlainConsoleFormatter.UseForConsole(builder.Logging);
        builder.Services.AddOptions<FrontDoorOptions>().BindConfiguration(FrontDoorOptions.Section);
        BearerTokens.Check(builder.Configuration.GetSection(FrontDoorOptions.Section).Get<FrontDoorOptions>() ?? new(),
            builder.Environment.IsDevelopment());
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<BearerTokens>();
        var bus = await PublisherBus.StartAsync(broker, waitForAnswers: true);
        builder.Services.AddSingleton(bus);
        // Its own requests (ASP.NET Core's and Kestrel's meters) and the runtime's, for Prometheus to
        // scrape at /metrics, as on the worker's health listener; nothing is sent anywhere.
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter("Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel")
            .AddRuntimeInstrumentation()
            .AddPrometheusExporter());

        var app = builder.Build();
        if (metricsPort is { } port)
        {
            // Only /metrics answers on the metrics listener, and only there.
            app.Use((http, next) => (http.Connection.LocalPort == port) == (http.Request.Path == "/metrics")
                ? next(http)
                : Task.FromResult(http.Response.StatusCode = StatusCodes.Status404NotFound));
            app.MapPrometheusScrapingEndpoint("/metrics");
        }
        app.Lifetime.ApplicationStopped.Register(() => bus.DisposeAsync().AsTask().GetAwaiter().GetResult());

        app.MapMethods("/enterprises/{enterprise}/lead-segments/{id}", ["PATCH"],
            (HttpContext http, string enterprise, string id) => RelayAsync<UpdateLeadSegment, LeadSegmentErrors>(http, UpdateLeadSegment.Queue,
                grants => grants.LackingEnterprise(enterprise),
                (correlationId, body) => new UpdateLeadSegment
                {
                    CorrelationId = correlationId, Enterprise = enterprise, Id = id, Body = body,
                }));

        // A handler that takes only the HttpContext would be read as a RequestDelegate, which drops the answer.
        app.MapPut("/external/api/v1/marketing_permissions/update",
            (Delegate)((HttpContext http) => RelayAsync<UpdateMarketingPermissions, PaywayErrors>(http,
                UpdateMarketingPermissions.Queue,
                grants => grants.Lacking(Grants.MarketingPermissionsScope),
                (correlationId, body) => new UpdateMarketingPermissions { CorrelationId = correlationId, Body = body })));

        app.MapPut("/api/{version}/customerPromotionLists/{id}",
            (HttpContext http, string id) => RelayAsync<UpdateCustomerPromotionList, ValomniaErrors>(http,
                UpdateCustomerPromotionList.Queue,
                grants => grants.Lacking(Grants.CustomerPromotionListsScope),
                (correlationId, body) => new UpdateCustomerPromotionList
                {
                    // A Long as documented travels as a number; anything else as the string it is, for the
                    // worker to answer with invalid_param_type.
                    CorrelationId = correlationId, Body = body,
                    Id = long.TryParse(id, out var number)
                        ? JsonSerializer.SerializeToElement(number) : JsonSerializer.SerializeToElement(id),
                }));

        app.MapPut("/api/{version}/customerPromotionLists/reference/{customerId}/{promotionListId}",
            (HttpContext http, string customerId, string promotionListId) => RelayAsync<UpdateCustomerPromotionList, ValomniaErrors>(http,
                UpdateCustomerPromotionList.Queue, grants => grants.Lacking(Grants.CustomerPromotionListsScope),
                (correlationId, body) => new UpdateCustomerPromotionList
                {
                    CorrelationId = correlationId, Body = body,
                    Reference = JsonSerializer.SerializeToElement(new { customerId, promotionListId }),
                }));
        return app;
    }

    static int MetricsPort(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Port > 0 ? uri.Port
            : throw new StartupFailure($"--metrics-urls {url} needs a port of its own (not 0)", StartupFailure.BadSetting);

    /// <summary>
    /// Sends the request to <paramref name="queue"/> as its command and answers with the result event; what never
    /// reaches the worker is answered in the API's own error shape, <typeparamref name="TErrors"/>.
    /// </summary>
    /// <param name="missingGrant">What the token lacks for this request, or null when it may go ahead.</param>
    static async Task<IResult> RelayAsync<TCommand, TErrors>(HttpContext http, string queue,
        Func<Grants, string?> missingGrant, Func<string, JsonElement, TCommand> command)
        where TCommand : class
        where TErrors : IApiErrors
    {
        var request = http.Request;
        var options = http.RequestServices.GetRequiredService<IOptionsMonitor<FrontDoorOptions>>().CurrentValue;
        var correlationId = request.Headers[CorrelationHeader].ToString() is { Length: > 0 } given ? given : Guid.NewGuid().ToString();
        http.Response.Headers[CorrelationHeader] = correlationId;

        var grants = await http.RequestServices.GetRequiredService<BearerTokens>().AuthenticateAsync(request, http.RequestAborted);
        if (grants is null)
        {
            http.Response.Headers.WWWAuthenticate = "Bearer";
            return Answer(TErrors.Unauthenticated());
        }
        if (missingGrant(grants) is { } needed) return Answer(TErrors.Forbidden(needed));

        if (!IsJson(request.ContentType))
            return Answer(TErrors.Unreadable(UnreadableReason.ContentType, "the content type is not application/json"));
        var (body, problem) = await ReadBodyAsync(request, options.MaxBodyBytes, http.RequestAborted);
        if (problem is { } reason)
            return Answer(TErrors.Unreadable(reason, reason == UnreadableReason.TooLarge
                ? $"The request body is larger than {options.MaxBodyBytes} bytes" : "the body is not JSON"));

        var bus = http.RequestServices.GetRequiredService<PublisherBus>();
        var result = await bus.SendAndWaitAsync(queue, command(correlationId, body), options.ResultTimeout,
            http.RequestAborted);
        return result is { } answered
            ? Answer(new ApiAnswer(answered.Result.Status, answered.Result.Body))
            : Answer(TErrors.TimedOut(options.ResultTimeout));
    }

    static bool IsJson(string? contentType) =>
        contentType is not null && Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media)
        && media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase);

    static async Task<(JsonElement Body, UnreadableReason? Problem)> ReadBodyAsync(HttpRequest request, int limit,
        CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > limit) return (default, UnreadableReason.TooLarge);
        }
        try
        {
            using var document = JsonDocument.Parse(buffer.ToArray(), new JsonDocumentOptions { MaxDepth = 64 });
            return (document.RootElement.Clone(), null);
        }
        catch (JsonException)
        {
            return (default, UnreadableReason.NotJson);
        }
    }

    static IResult Answer(ApiAnswer answer) =>
        Results.Text(answer.Body.GetRawText(), "application/json", statusCode: answer.Status);
}
