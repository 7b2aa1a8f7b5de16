using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Publisher.FrontDoor;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.FrontDoor;

/// <summary>
/// The front door listening on a free loopback port, in front of the real worker, broker and database, and driven
/// over real HTTP. It runs with the demo configuration (frontdoor.Development.json) unless a test says otherwise.
/// </summary>
public abstract class FrontDoorScenario(WorkerFixture fixture) : IAsyncLifetime
{
    /// <summary>The sample token of the lead-segment seed: HS256 with the demo key, subject 1234567890.</summary>
    public const string SeedJwt =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

    public const string DemoKey = "your-256-bit-secret";

    protected WorkerFixture Fixture { get; } = fixture;
    protected HttpClient Http { get; private set; } = null!;
    /// <summary>The port of the front door's own metrics listener.</summary>
    protected int MetricsPort { get; private set; }
    WebApplication? _frontDoor;

    public async Task InitializeAsync()
    {
        await Fixture.ResetAsync();
        await StartAsync();
    }

    /// <summary>Starts the front door (again) with the given environment and settings.</summary>
    protected async Task StartAsync(string environment = "Development", IDictionary<string, string?>? settings = null)
    {
        Http?.Dispose();
        Http = null!;
        if (_frontDoor is not null)
        {
            await _frontDoor.StopAsync();
            await _frontDoor.DisposeAsync();
            _frontDoor = null;
        }
        MetricsPort = LocalServices.FreePort();
        _frontDoor = await FrontDoorApp.BuildAsync(["http://127.0.0.1:0"],
            Hosting.BrokerConnection.From(new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build(), false, Fixture.Services.RabbitMq),
            settings, environment, metricsUrl: $"http://127.0.0.1:{MetricsPort}");
        await _frontDoor.StartAsync();
        Http = new HttpClient { BaseAddress = new Uri(_frontDoor.Urls.First(url => !url.EndsWith($":{MetricsPort}"))) };
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (_frontDoor is not null)
        {
            await _frontDoor.StopAsync();
            await _frontDoor.DisposeAsync();
        }
    }

    protected static HttpRequestMessage Request(HttpMethod method, string path, string? body, string? token,
        string contentType = "application/json", string? correlationId = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8);
        if (request.Content is not null) request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (correlationId is not null) request.Headers.Add("X-Correlation-Id", correlationId);
        return request;
    }

    protected async Task<(int Status, JsonElement Body, HttpResponseMessage Response)> SendAsync(HttpRequestMessage request)
    {
        var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return ((int)response.StatusCode, JsonDocument.Parse(text).RootElement.Clone(), response);
    }

    /// <summary>An HS256 JWT with the given claims, signed with <paramref name="key"/>.</summary>
    protected static string Jwt(object claims, string key = DemoKey)
    {
        static string Encode(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var header = Encode(JsonSerializer.SerializeToUtf8Bytes(new { alg = "HS256", typ = "JWT" }));
        var payload = Encode(JsonSerializer.SerializeToUtf8Bytes(claims));
        var signature = Encode(HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), Encoding.ASCII.GetBytes($"{header}.{payload}")));
        return $"{header}.{payload}.{signature}";
    }
}
