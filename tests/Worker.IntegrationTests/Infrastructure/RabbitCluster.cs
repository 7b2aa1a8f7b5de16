using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using DotNet.Testcontainers.Networks;

namespace Worker.IntegrationTests.Infrastructure;

/// <summary>
/// Three RabbitMQ nodes, clustered, each published on its own port of 127.0.0.1. Where the other servers are
/// containers, so are the nodes: on a network of their own, named rabbitmq-1 to 3 and clustered by
/// deploy/rabbitmq/cluster.conf as docker-compose's cluster profile is, and killed through the engine's API.
/// Elsewhere scripts/local-services.sh start-cluster runs them from the Debian package, with node names, AMQP and
/// distribution ports of their own and one Erlang cookie, and kills them with SIGKILL.
/// </summary>
public sealed class RabbitCluster : IAsyncDisposable
{
    readonly string? _folder;
    readonly int[] _ports;
    readonly IReadOnlyList<IContainer>? _containers;
    readonly INetwork? _network;

    RabbitCluster(int[] ports, string? folder, IReadOnlyList<IContainer>? containers = null, INetwork? network = null) =>
        (_ports, _folder, _containers, _network) = (ports, folder, containers, network);

    /// <summary>The nodes' AMQP addresses, node 1 first.</summary>
    public IReadOnlyList<string> Nodes => _ports.Select(port => $"amqp://guest:guest@127.0.0.1:{port}/").ToList();

    public string NodeName(int node) => _containers is null ? $"worker{_ports[node - 1]}@localhost" : $"rabbit@rabbitmq-{node}";

    static int[] FreePorts()
    {
        var ports = new List<int>();
        while (ports.Count < 3)
        {
            var port = LocalServices.FreePort(distributionPortFree: true);
            if (!ports.Contains(port)) ports.Add(port);
        }
        return ports.ToArray();
    }

    public static Task<RabbitCluster> StartAsync(ServerSource source) =>
        source == ServerSource.Containers ? StartContainersAsync() : StartProcessesAsync();

    static async Task<RabbitCluster> StartProcessesAsync()
    {
        var folder = Directory.CreateTempSubdirectory("worker-cluster-").FullName;
        var cluster = new RabbitCluster(FreePorts(), folder);
        try
        {
            await LocalServices.RunScriptAsync(["start-cluster", folder, .. cluster._ports.Select(p => p.ToString())]);
        }
        catch
        {
            // The nodes that did start must not outlive the test run.
            await cluster.DisposeAsync();
            throw;
        }
        return cluster;
    }

    static async Task<RabbitCluster> StartContainersAsync()
    {
        var ports = FreePorts();
        var network = new NetworkBuilder().WithName($"worker-cluster-{Guid.NewGuid():N}")
            .WithLabel(ServerContainers.RunLabel, ServerContainers.RunId).Build();
        await network.CreateAsync();
        var cookie = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(20));
        var containers = Enumerable.Range(1, 3).Select(node => ServerContainers.RabbitMqNode()
            .WithNetwork(network).WithHostname($"rabbitmq-{node}").WithNetworkAliases($"rabbitmq-{node}")
            .WithPortBinding(ports[node - 1], 5672)
            .WithEnvironment("RABBITMQ_DEFAULT_USER", "guest").WithEnvironment("RABBITMQ_DEFAULT_PASS", "guest")
            .WithEnvironment("RABBITMQ_ERLANG_COOKIE", cookie)
            // The peer discovery docker-compose's cluster profile uses: nodes rabbit@rabbitmq-1 to 3.
            .WithResourceMapping(ServerContainers.Deploy("cluster.conf"), FilePath.Of("/etc/rabbitmq/conf.d/20-cluster.conf"))
            .WithWaitStrategy(Wait.ForUnixContainer().UntilMessageIsLogged("Server startup complete"))
            .Build()).ToList();
        var cluster = new RabbitCluster(ports, null, containers, network);
        try
        {
            await Task.WhenAll(containers.Select(container => container.StartAsync()));
            var members = await cluster.CtlAsync(1, "-q", "cluster_status", "--formatter", "json");
            for (var node = 1; node <= 3; node++)
            {
                if (!members.Contains($"\"{cluster.NodeName(node)}\""))
                    throw new InvalidOperationException($"{cluster.NodeName(node)} did not join the cluster: {members}");
            }
            await ServerContainers.ImportDefinitionsAsync(containers[0]);
            Console.Error.WriteLine("[tests] RabbitMQ cluster in containers " + string.Join(", ", Enumerable.Range(1, 3)
                .Select(node => $"{containers[node - 1].Name.TrimStart('/')} ({cluster.NodeName(node)}, 127.0.0.1:{ports[node - 1]})")));
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
        return cluster;
    }

    /// <summary>rabbitmqctl on a node (1 to 3).</summary>
    public async Task<string> CtlAsync(int node, params string[] arguments)
    {
        if (_containers is null) return await LocalServices.RunScriptAsync(["rabbitmqctl", Path.Combine(_folder!, $"node{node}"), .. arguments]);
        DotNet.Testcontainers.Containers.ExecResult result;
        try
        {
            result = await _containers[node - 1].ExecAsync(["rabbitmqctl", .. arguments]);
        }
        catch (Docker.DotNet.DockerApiException e)
        {
            // A killed node's container runs no command.
            throw new InvalidOperationException($"rabbitmqctl on node {node} failed: {e.Message}", e);
        }
        if (result.ExitCode != 0) throw new InvalidOperationException($"rabbitmqctl on node {node} failed: {result.Stderr}{result.Stdout}");
        return result.Stdout;
    }

    /// <summary>SIGKILL of a node (1 to 3), as a machine that dies.</summary>
    public Task KillAsync(int node) => _containers is null
        ? LocalServices.RunScriptAsync("kill-rabbitmq", Path.Combine(_folder!, $"node{node}"))
        : ServerContainers.KillAsync(_containers[node - 1]);

    /// <summary>The node (1 to 3) that leads a quorum queue.</summary>
    public async Task<int> LeaderOfAsync(string queue)
    {
        string? listing = null;
        // Asked of the first node that answers: one may have been killed.
        for (var node = 1; listing is null; node++)
        {
            try { listing = await CtlAsync(node, "-q", "list_queues", "name", "leader"); }
            catch (InvalidOperationException) when (node < 3) { }
        }
        var leader = listing.Split('\n').Select(line => line.Split('\t', StringSplitOptions.TrimEntries))
            .First(columns => columns.Length == 2 && columns[0] == queue)[1];
        return Enumerable.Range(1, 3).First(node => NodeName(node) == leader);
    }

    public async ValueTask DisposeAsync()
    {
        if (_containers is not null)
        {
            foreach (var container in _containers) await container.DisposeAsync();
            if (_network is not null) await _network.DisposeAsync();
            return;
        }
        try
        {
            await LocalServices.RunScriptAsync("stop-cluster", _folder!);
        }
        finally
        {
            Directory.Delete(_folder!, recursive: true);
        }
    }
}
