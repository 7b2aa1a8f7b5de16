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
public class FaultFixture : IAsyncLifetime
{
    public LocalServices Services { get; private set; } = null!;
    public NpgsqlDataSource Database { get; private set; } = null!;
    public ResultListener Results { get; private set; } = null!;
    IConnection _amqp = null!;
    IHost _tools = null!;

    /// <summary>The RabbitMQ cluster's nodes, when the fixture runs one instead of the single node of <see cref="Services"/>.</summary>
    protected virtual IReadOnlyList<string>? ClusterNodes => null;

    /// <summary>Starts what the fixture has beside <see cref="Services"/>: nothing here.</summary>
    protected virtual Task StartMoreAsync() => Task.CompletedTask;

    public async Task InitializeAsync()
    {
        Services = await LocalServices.StartAsync();
        await StartMoreAsync();
        Database = NpgsqlDataSource.Create(Services.Postgres);
        // The worker's own services, never started: for the schema and demo-data import only.
        _tools = WorkerFixture.BuildWorker(Services);
        var factory = new ConnectionFactory
        {
            Uri = new Uri(Services.RabbitMq), AutomaticRecoveryEnabled = true,
            NetworkRecoveryInterval = TimeSpan.FromMilliseconds(500), RequestedHeartbeat = TimeSpan.FromSeconds(5),
        };
        _amqp = ClusterNodes is { } nodes
            ? await factory.CreateConnectionAsync(nodes.Select(node => new AmqpTcpEndpoint(new Uri(node))).ToList())
            : await factory.CreateConnectionAsync();
        // On a cluster the worker declares its queues as quorum queues, with arguments of its own.
        if (ClusterNodes is null)
        {
            await using var channel = await _amqp.CreateChannelAsync();
            foreach (var queue in WorkerFixture.CommandQueues)
            {
                await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
                await channel.QueueDeclareAsync(queue + "_error", durable: true, exclusive: false, autoDelete: false);
            }
        }
        Results = await ResultListener.StartAsync(Services.RabbitMq, WorkerFixture.ResultExchanges, "fault-test-results", ClusterNodes);
    }

    /// <summary>The demo data, the stream's documents, empty queues, an empty inbox and history.</summary>
    public async Task ResetAsync(MixedCommandStream stream)
    {
        // Connections pooled before a PostgreSQL restart are dead; start the test with fresh ones.
        Database.Clear();
        _tools.Services.GetRequiredService<NpgsqlDataSource>().Clear();
        var import = _tools.Services.GetRequiredService<DemoDataImport>();
        await import.ImportAsync(WorkerFixture.SeedFile, overwrite: true, CancellationToken.None);
        await using (var command = Database.CreateCommand("truncate mt_doc_inbox, mt_events, mt_streams"))
            await command.ExecuteNonQueryAsync();
        var seed = stream.SeedFile();
        await import.ImportAsync(seed, overwrite: true, CancellationToken.None);
        File.Delete(seed);
        if (ClusterNodes is not null) return;
        await using var channel = await _amqp.CreateChannelAsync();
        foreach (var queue in WorkerFixture.CommandQueues)
        {
            await channel.QueuePurgeAsync(queue);
            await channel.QueuePurgeAsync(queue + "_error");
            // Partition queues exist once a worker has run; what a test left in them must not reach the next one.
            for (var partition = 0; partition < 4; partition++)
            {
                var name = Worker.Messaging.CommandPartitions.QueueOf(queue, partition);
                await using var probe = await _amqp.CreateChannelAsync();
                try
                {
                    await probe.QueuePurgeAsync(name);
                }
                catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
                {
                    // Not declared yet.
                }
            }
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

    public virtual async Task DisposeAsync()
    {
        // Also after a start that failed half-way.
        if (Results is not null) await Results.DisposeAsync();
        if (_amqp is not null) await _amqp.CloseAsync();
        _tools?.Dispose();
        if (Database is not null) await Database.DisposeAsync();
        if (Services is not null) await Services.DisposeAsync();
    }
}
