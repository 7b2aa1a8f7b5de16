namespace Worker.IntegrationTests.Infrastructure;

/// <summary>
/// Three RabbitMQ nodes on loopback, clustered (scripts/local-services.sh start-cluster): node names, AMQP and
/// distribution ports of their own, one Erlang cookie. Started from the Debian package's server wherever the tests
/// run, Docker or not: a node is killed with SIGKILL, which a container's stop would soften.
/// </summary>
public sealed class RabbitCluster : IAsyncDisposable
{
    readonly string _folder;
    readonly int[] _ports;

    RabbitCluster(string folder, int[] ports) => (_folder, _ports) = (folder, ports);

    /// <summary>The nodes' AMQP addresses, node 1 first.</summary>
    public IReadOnlyList<string> Nodes => _ports.Select(port => $"amqp://guest:guest@127.0.0.1:{port}/").ToList();

    public string NodeName(int node) => $"worker{_ports[node - 1]}@localhost";

    public static async Task<RabbitCluster> StartAsync()
    {
        var folder = Directory.CreateTempSubdirectory("worker-cluster-").FullName;
        var ports = new List<int>();
        while (ports.Count < 3)
        {
            var port = LocalServices.FreePort(distributionPortFree: true);
            if (!ports.Contains(port)) ports.Add(port);
        }
        var cluster = new RabbitCluster(folder, ports.ToArray());
        try
        {
            await LocalServices.RunScriptAsync(["start-cluster", folder, .. ports.Select(p => p.ToString())]);
        }
        catch
        {
            // The nodes that did start must not outlive the test run.
            await cluster.DisposeAsync();
            throw;
        }
        return cluster;
    }

    /// <summary>rabbitmqctl on a node (1 to 3).</summary>
    public Task<string> CtlAsync(int node, params string[] arguments) =>
        LocalServices.RunScriptAsync(["rabbitmqctl", Path.Combine(_folder, $"node{node}"), .. arguments]);

    /// <summary>SIGKILL of a node (1 to 3), as a machine that dies.</summary>
    public Task KillAsync(int node) => LocalServices.RunScriptAsync("kill-rabbitmq", Path.Combine(_folder, $"node{node}"));

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
        try
        {
            await LocalServices.RunScriptAsync("stop-cluster", _folder);
        }
        finally
        {
            Directory.Delete(_folder, recursive: true);
        }
    }
}
