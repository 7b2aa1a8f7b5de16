using System.Text;
using System.Text.Json;
using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using RabbitMQ.Client;
using Worker.DemoData;

namespace Worker.IntegrationTests.Infrastructure;

[CollectionDefinition(Name)]
public sealed class WorkerCollection : ICollectionFixture<WorkerFixture>
{
    public const string Name = "worker";
}

/// <summary>
/// Real RabbitMQ and PostgreSQL, the worker running in-process with its production wiring, and a plain AMQP
/// client for commands and results. Tests share it and run one at a time; each starts from <see cref="ResetAsync"/>.
/// </summary>
public sealed class WorkerFixture : IAsyncLifetime
{
    public static readonly string[] ResultExchanges =
    [
        LeadSegmentUpdated.Exchange, LeadSegmentUpdateFailed.Exchange,
        MarketingPermissionsUpdated.Exchange, MarketingPermissionsUpdateFailed.Exchange,
        CustomerPromotionListUpdated.Exchange, CustomerPromotionListUpdateFailed.Exchange,
    ];

    public static readonly string[] CommandQueues =
        [UpdateLeadSegment.Queue, UpdateMarketingPermissions.Queue, UpdateCustomerPromotionList.Queue];

    public LocalServices Services { get; private set; } = null!;
    public IHost Worker { get; private set; } = null!;
    public ResultListener Results { get; private set; } = null!;
    public NpgsqlDataSource Database { get; private set; } = null!;
    public CapturedLogs Logs { get; } = new();
    IConnection _amqp = null!;
    IChannel _channel = null!;

    public static string SeedFile => Path.Combine(LocalServices.RepositoryRoot(), "samples", "seed-data.json");

    public async Task InitializeAsync()
    {
        Services = await LocalServices.StartAsync();
        Database = NpgsqlDataSource.Create(Services.Postgres);
        Worker = BuildWorker(Services, logs: Logs);
        await Worker.StartAsync();
        Results = await ResultListener.StartAsync(Services.RabbitMq, ResultExchanges);
        _amqp = await new ConnectionFactory { Uri = new Uri(Services.RabbitMq) }.CreateConnectionAsync();
        _channel = await _amqp.CreateChannelAsync(new CreateChannelOptions(
            publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
    }

    /// <summary>The worker's own host, as Program.cs builds it, pointed at the test servers.</summary>
    public static IHost BuildWorker(LocalServices services, IDictionary<string, string?>? settings = null,
        CapturedLogs? logs = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:RabbitMq"] = services.RabbitMq,
            ["ConnectionStrings:Postgres"] = services.Postgres,
            ["Messaging:RetryLimit"] = "3",
            ["Messaging:RetryMinInterval"] = "00:00:00.050",
            ["Messaging:RetryMaxInterval"] = "00:00:00.200",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Health:Urls"] = "http://127.0.0.1:0",
        });
        if (settings is not null) builder.Configuration.AddInMemoryCollection(settings);
        builder.AddUpdateWorker();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
            // The line each failed command gets is at Information; the console stays at Warning.
            builder.Logging.AddFilter<CapturedLogs>("Worker", LogLevel.Information);
        }
        return builder.Build();
    }

    /// <summary>Puts the demo data back as the file has it, and empties the inbox and the error queues.</summary>
    public async Task ResetAsync()
    {
        await using (var command = Database.CreateCommand("truncate mt_doc_inbox, mt_events, mt_streams"))
            await command.ExecuteNonQueryAsync();
        await Worker.Services.GetRequiredService<DemoDataImport>().ImportAsync(SeedFile, overwrite: true, CancellationToken.None);
        await using var channel = await _amqp.CreateChannelAsync();
        foreach (var queue in CommandQueues)
        {
            await channel.QueueDeclareAsync(queue + "_error", durable: true, exclusive: false, autoDelete: false);
            await channel.QueuePurgeAsync(queue + "_error");
        }
    }

    /// <summary>Publishes bytes to a queue as any AMQP client would, with publisher confirms.</summary>
    public async Task SendRawAsync(string queue, byte[] body, string? contentType = "application/json",
        string? messageId = null, string? correlationId = null, IDictionary<string, object?>? headers = null,
        string? replyTo = null)
    {
        var properties = new BasicProperties
        {
            ContentType = contentType,
            MessageId = messageId ?? Guid.NewGuid().ToString(),
            CorrelationId = correlationId,
            DeliveryMode = DeliveryModes.Persistent,
            Headers = headers,
            ReplyTo = replyTo,
        };
        await _channel.BasicPublishAsync("", queue, mandatory: true, properties, body);
    }

    public Task SendJsonAsync(string queue, object command, string? messageId = null) =>
        SendRawAsync(queue, JsonSerializer.SerializeToUtf8Bytes(command), messageId: messageId);

    /// <summary>Takes everything in a queue, e.g. an error queue, leaving it empty.</summary>
    public async Task<List<BasicGetResult>> DrainAsync(string queue)
    {
        var taken = new List<BasicGetResult>();
        await using var channel = await _amqp.CreateChannelAsync();
        while (await channel.BasicGetAsync(queue, autoAck: true) is { } message) taken.Add(message);
        return taken;
    }

    /// <summary>Waits until the error queue holds something, then takes it all.</summary>
    public async Task<List<BasicGetResult>> WaitForErrorQueueAsync(string queue)
    {
        // The failed result is published just before the move to the error queue completes.
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var taken = await DrainAsync(queue + "_error");
            if (taken.Count > 0) return taken;
            await Task.Delay(50);
        }
        return [];
    }

    public async Task<JsonElement?> ReadDocumentAsync(string table, string tenant, string id)
    {
        await using var command = Database.CreateCommand($"select data::text from {table} where tenant_id = $1 and id::text = $2");
        command.Parameters.Add(new NpgsqlParameter { Value = tenant });
        command.Parameters.Add(new NpgsqlParameter { Value = id });
        return await command.ExecuteScalarAsync() is string json ? JsonDocument.Parse(json).RootElement.Clone() : null;
    }

    /// <summary>Every stored row of a table as text, to prove that a refused command changed nothing.</summary>
    public async Task<string> SnapshotAsync(string table)
    {
        // The event store (the consent history) has no versions of its own: its rows only ever come, never change.
        var row = table == "mt_events"
            ? "string_agg(stream_id || '/' || version || ':' || data::text, E'\\n' order by stream_id, version)"
            : "string_agg(tenant_id || '/' || id || ':' || mt_version || ':' || data::text, E'\\n' order by tenant_id, id)";
        await using var command = Database.CreateCommand($"select coalesce({row}, '') from {table}");
        return (string)(await command.ExecuteScalarAsync())!;
    }

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    public async Task DisposeAsync()
    {
        await Results.DisposeAsync();
        await _channel.CloseAsync();
        await _amqp.CloseAsync();
        await Worker.StopAsync();
        Worker.Dispose();
        await Database.DisposeAsync();
        await Services.DisposeAsync();
    }
}
