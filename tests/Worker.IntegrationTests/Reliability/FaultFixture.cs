using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using RabbitMQ.Client;
using Worker.DemoData;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.Reliability;

[CollectionDefinition(Name)]
public sealed class FaultCollection : ICollectionFixture<FaultFixture>
{
    public const string Name = "faults";
}

/// <summary>
/// Servers of their own for tests that stop and start them and that run the worker as separate processes; results
/// are collected in a durable queue so none are lost while the broker restarts.
/// </summary>
public sealed class FaultFixture : IAsyncLifetime
{
    public LocalServices Services { get; private set; } = null!;
    public NpgsqlDataSource Database { get; private set; } = null!;
    public ResultListener Results { get; private set; } = null!;
    IConnection _amqp = null!;
    IHost _tools = null!;

    public async Task InitializeAsync()
    {
        Services = await LocalServices.StartAsync();
        Database = NpgsqlDataSource.Create(Services.Postgres);
        // The worker's own services, never started: for the schema and demo-data import only.
        _tools = WorkerFixture.BuildWorker(Services);
        _amqp = await new ConnectionFactory
        {
            Uri = new Uri(Services.RabbitMq), AutomaticRecoveryEnabled = true,
            NetworkRecoveryInterval = TimeSpan.FromMilliseconds(500),
        }.CreateConnectionAsync();
        await using (var channel = await _amqp.CreateChannelAsync())
        {
            foreach (var queue in WorkerFixture.CommandQueues)
            {
                await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
                await channel.QueueDeclareAsync(queue + "_error", durable: true, exclusive: false, autoDelete: false);
            }
        }
        Results = await ResultListener.StartAsync(Services.RabbitMq, WorkerFixture.ResultExchanges, "fault-test-results");
    }

    /// <summary>The demo data, the stream's documents, empty queues, an empty inbox and history.</summary>
    public async Task ResetAsync(MixedCommandStream stream)
    {
        // Connections pooled before a PostgreSQL restart are dead; start the test with fresh ones.
        Database.Clear();
        _tools.Services.GetRequiredService<NpgsqlDataSource>().Clear();
        var import = _tools.Services.GetRequiredService<DemoDataImport>();
        await import.ImportAsync(WorkerFixture.SeedFile, overwrite: true, CancellationToken.None);
        await using (var command = Database.CreateCommand("truncate mt_doc_inboxentry, mt_events, mt_streams"))
            await command.ExecuteNonQueryAsync();
        var seed = stream.SeedFile();
        await import.ImportAsync(seed, overwrite: true, CancellationToken.None);
        File.Delete(seed);
        await using var channel = await _amqp.CreateChannelAsync();
        foreach (var queue in WorkerFixture.CommandQueues)
        {
            await channel.QueuePurgeAsync(queue);
            await channel.QueuePurgeAsync(queue + "_error");
        }
    }

    public async Task<IChannel> OpenPublisherAsync() =>
        await _amqp.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true,
            publisherConfirmationTrackingEnabled: true));

    public async Task<List<BasicGetResult>> DrainAsync(string queue)
    {
        var taken = new List<BasicGetResult>();
        await using var channel = await _amqp.CreateChannelAsync();
        while (await channel.BasicGetAsync(queue, autoAck: true) is { } message) taken.Add(message);
        return taken;
    }

    public async Task DisposeAsync()
    {
        await Results.DisposeAsync();
        await _amqp.CloseAsync();
        _tools.Dispose();
        await Database.DisposeAsync();
        await Services.DisposeAsync();
    }
}
