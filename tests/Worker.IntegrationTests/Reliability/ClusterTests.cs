using Worker.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Worker.IntegrationTests.Reliability;

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}

/// <summary>The fault tests' servers, with a 3-node RabbitMQ cluster as the broker.</summary>
public sealed class ClusterFixture : FaultFixture
{
    public RabbitCluster Cluster { get; private set; } = null!;

    protected override IReadOnlyList<string>? ClusterNodes => Cluster.Nodes;

    protected override async Task StartMoreAsync() => Cluster = await RabbitCluster.StartAsync(Services.Source);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (Cluster is not null) await Cluster.DisposeAsync();
    }

    /// <summary>A worker process on the cluster, with quorum queues, connected to node 1 first.</summary>
    public Task<WorkerProcess> StartWorkerAsync() => WorkerProcess.StartAsync(Services, new Dictionary<string, string>
    {
        ["ConnectionStrings__RabbitMq"] = Cluster.Nodes[0],
        ["Messaging__ClusterNodes"] = string.Join(',', Cluster.Nodes.Skip(1).Select(node => new Uri(node).Authority)),
        ["Messaging__QueueType"] = "Quorum",
        ["Messaging__RebalanceInterval"] = "00:00:01",
    });
}

[Collection(ClusterCollection.Name)]
public sealed class ClusterTests(ClusterFixture fixture, ITestOutputHelper output) : StreamScenario(fixture, output)
{
    const int Count = 2000;

    [Fact]
    public async Task Losing_the_node_that_leads_the_queues_and_a_worker_mid_stream_loses_reorders_and_repeats_nothing()
    {
        var stream = new MixedCommandStream(Count, segments: 8, accounts: 8, run: "cluster");
        await fixture.ResetAsync(stream);
        var first = await fixture.StartWorkerAsync();
        await using var second = await fixture.StartWorkerAsync();
        try
        {
            int? killedNode = null;
            await PublishAsync(stream, partitioned: true, afterEach: async i =>
            {
                if (i % 100 == 99 && i < Count / 2) await Task.Delay(300);
                if (i != Count / 2) return;
                killedNode = await fixture.Cluster.LeaderOfAsync("update-lead-segment.p0");
                Output.WriteLine($"killing node {killedNode} (it leads update-lead-segment.p0) and the first worker");
                await fixture.Cluster.KillAsync(killedNode.Value);
                await first.KillAsync();
            });
            await WaitForResultsAsync(stream, 1, TimeSpan.FromMinutes(3));
            // What the surviving worker went through, for a failed run's reader.
            Output.WriteLine(string.Join("\n", second.Output.Split('\n')
                .Where(line => line.StartsWith("warn") || line.StartsWith("fail") || line.Contains("Stepping back")).TakeLast(30)));
            Assert.NotNull(killedNode);
            Assert.NotEqual(killedNode, await fixture.Cluster.LeaderOfAsync("update-lead-segment.p0"));

            // Every command again, as a publisher that never saw its confirms would send it: answered alike, applied once.
            await PublishAsync(stream, partitioned: true);
            await WaitForResultsAsync(stream, 2, TimeSpan.FromMinutes(3));
            await AssertGuaranteesAsync(stream, 2, "3-node cluster, quorum queues, the leading node and a worker killed");
        }
        finally
        {
            await first.DisposeAsync();
        }
    }
}
