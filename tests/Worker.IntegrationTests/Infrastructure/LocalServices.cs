using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Worker.IntegrationTests.Infrastructure;

/// <summary>How the tests get their RabbitMQ and PostgreSQL.</summary>
public enum ServerSource
{
    /// <summary>ConnectionStrings__RabbitMq and ConnectionStrings__Postgres name running servers.</summary>
    External,

    /// <summary>Testcontainers, where a Docker engine answers.</summary>
    Containers,

    /// <summary>The Debian packages' servers, started by scripts/local-services.sh.</summary>
    Processes,
}

/// <summary>
/// A throwaway RabbitMQ and PostgreSQL for the tests. Where a Docker engine answers (Docker, or podman's Docker API
/// that scripts/test.sh starts), Testcontainers starts them (see <see cref="ServerContainers"/>); elsewhere scripts/local-services.sh starts a node and a cluster from the Debian
/// packages on free loopback ports, with their data in a temporary folder that is removed afterwards. When
/// ConnectionStrings__RabbitMq and ConnectionStrings__Postgres are set, those servers are used instead, and
/// WORKER_IT_SERVERS=containers or =processes forces a choice.
/// </summary>
public sealed class LocalServices : IAsyncDisposable
{
    public const string ChoiceVariable = "WORKER_IT_SERVERS";

    readonly string? _folder;
    readonly ServerContainers? _containers;

    LocalServices(string rabbitMq, string postgres, string? folder, int amqpPort, ServerContainers? containers = null)
    {
        Source = containers is not null ? ServerSource.Containers : folder is not null ? ServerSource.Processes : ServerSource.External;
        RabbitMq = rabbitMq;
        Postgres = postgres;
        _folder = folder;
        AmqpPort = amqpPort;
        _containers = containers;
    }

    public string RabbitMq { get; }
    public string Postgres { get; }
    public int AmqpPort { get; }

    /// <summary>Where the servers come from; servers a test starts beside them come from the same place.</summary>
    public ServerSource Source { get; }

    /// <summary>True when the servers are our own, so tests may stop and start them.</summary>
    public bool Owned => _folder is not null || _containers is not null;

    /// <summary>Which servers to use, from the environment and whether a Docker engine answers.</summary>
    public static async Task<(ServerSource Source, string Why)> ChooseAsync(IReadOnlyDictionary<string, string?> environment,
        Func<Task<bool>> dockerAnswers)
    {
        if (!string.IsNullOrEmpty(environment.GetValueOrDefault("ConnectionStrings__RabbitMq"))
            && !string.IsNullOrEmpty(environment.GetValueOrDefault("ConnectionStrings__Postgres")))
            return (ServerSource.External, "ConnectionStrings__RabbitMq and ConnectionStrings__Postgres are set");
        switch (environment.GetValueOrDefault(ChoiceVariable)?.Trim().ToLowerInvariant())
        {
            case "containers": return (ServerSource.Containers, $"{ChoiceVariable}=containers");
            case "processes": return (ServerSource.Processes, $"{ChoiceVariable}=processes");
            case null or "": break;
            case var other: throw new InvalidOperationException($"{ChoiceVariable}={other}: use containers or processes");
        }
        var engine = environment.GetValueOrDefault("DOCKER_HOST") is { Length: > 0 } host ? host : "unix:///var/run/docker.sock";
        return await dockerAnswers()
            ? (ServerSource.Containers, $"a Docker engine answers at {engine}")
            : (ServerSource.Processes, $"no Docker engine answers at {engine}");
    }

    static readonly Lazy<Task<(ServerSource Source, string Why)>> Chosen = new(() =>
    {
        var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value);
        return ChooseAsync(environment, () => ServerContainers.DockerEngineAnswersAsync(
            environment.GetValueOrDefault("DOCKER_HOST"), TimeSpan.FromSeconds(2)));
    });

    /// <summary>The run's choice, for servers a fixture starts of its own (TLS, a cluster): the same for all.</summary>
    public static async Task<ServerSource> ChosenSourceAsync() => (await Chosen.Value).Source;

    public static async Task<LocalServices> StartAsync()
    {
        var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value);
        var (source, why) = await Chosen.Value;
        // One line, so that a run's log says which servers its figures come from.
        Console.Error.WriteLine($"[tests] RabbitMQ and PostgreSQL: {source switch
        {
            ServerSource.External => "external servers",
            ServerSource.Containers => "Testcontainers",
            _ => "local processes (scripts/local-services.sh)",
        }}, because {why}");
        switch (source)
        {
            case ServerSource.External:
                var rabbitMq = environment["ConnectionStrings__RabbitMq"]!;
                return new LocalServices(rabbitMq, environment["ConnectionStrings__Postgres"]!, null, new Uri(rabbitMq).Port);
            case ServerSource.Containers:
                var containers = await ServerContainers.StartAsync();
                Console.Error.WriteLine("[tests] " + containers.Describe());
                return new LocalServices(containers.RabbitMq, containers.Postgres, null, containers.AmqpPort, containers);
        }

        var folder = Directory.CreateTempSubdirectory("worker-it-").FullName;
        var pgPort = FreePort();
        var amqpPort = FreePort(distributionPortFree: true);
        try
        {
            await RunScriptAsync("start", folder, pgPort.ToString(), amqpPort.ToString());
        }
        catch
        {
            // What did start (PostgreSQL, when the broker then failed) must not outlive the run; its logs are in the
            // exception, and kept with WORKER_IT_KEEP=1.
            await RunScriptAsync("stop", folder);
            if (Environment.GetEnvironmentVariable("WORKER_IT_KEEP") != "1") Directory.Delete(folder, recursive: true);
            throw;
        }
        return new LocalServices($"amqp://guest:guest@127.0.0.1:{amqpPort}/",
            $"Host=127.0.0.1;Port={pgPort};Database=worker;Username=postgres;Pooling=true", folder, amqpPort);
    }

    /// <summary>rabbitmqctl against the throwaway node, for diagnostics.</summary>
    public Task<string> RabbitMqCtlAsync(params string[] arguments) =>
        _containers?.RabbitMqCtlAsync(arguments) ?? RunScriptAsync(["rabbitmqctl", _folder!, .. arguments]);

    public Task StopRabbitMqAsync() => _containers?.StopRabbitMqAsync() ?? RunScriptAsync("stop-rabbitmq", _folder!);
    public Task StartRabbitMqAsync() => _containers?.StartRabbitMqAsync() ?? RunScriptAsync("start-rabbitmq", _folder!);
    public Task StopPostgresAsync() => _containers?.StopPostgresAsync() ?? RunScriptAsync("stop-postgres", _folder!);
    public Task StartPostgresAsync() => _containers?.StartPostgresAsync() ?? RunScriptAsync("start-postgres", _folder!);

    /// <summary>SIGKILL of the server, as a crash: no shutdown, nothing flushed by the server itself.</summary>
    public Task KillRabbitMqAsync() => _containers?.KillRabbitMqAsync() ?? RunScriptAsync("kill-rabbitmq", _folder!);
    public Task KillPostgresAsync() => _containers?.KillPostgresAsync() ?? RunScriptAsync("kill-postgres", _folder!);

    public async ValueTask DisposeAsync()
    {
        if (_containers is not null) await _containers.DisposeAsync();
        if (_folder is null) return;
        await RunScriptAsync("stop", _folder);
        // WORKER_IT_KEEP=1 keeps the servers' data and logs, to read after a failed run.
        if (Environment.GetEnvironmentVariable("WORKER_IT_KEEP") == "1") Console.Error.WriteLine("kept " + _folder);
        else Directory.Delete(_folder, recursive: true);
    }

    internal static async Task<string> RunScriptAsync(params string[] arguments)
    {
        var script = Path.Combine(RepositoryRoot(), "scripts", "local-services.sh");
        var start = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(script);
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        // Throwaway servers need no durability across a power cut; this keeps the tests fast.
        start.Environment["PG_EXTRA_OPTS"] = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"local-services.sh {string.Join(' ', arguments)} failed ({process.ExitCode}):\n{await output}\n{await errors}");
        }
        return await output;
    }

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Worker.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("Worker.sln not found above " + AppContext.BaseDirectory);
    }

    // RabbitMQ also listens on port + 20000 for Erlang distribution; both must be free.
    public static int FreePort(bool distributionPortFree = false)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            // Below Linux's ephemeral range (32768 and up): a client that keeps reconnecting to a server that is
            // down can otherwise be given the server's own port as its local one, connect to itself, and keep
            // the server from listening again when it restarts.
            var port = Random.Shared.Next(20000, 32700);
            if (IsFree(port) && (!distributionPortFree || IsFree(port + 20000))) return port;
        }
        throw new InvalidOperationException("No free loopback port found");
    }

    static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
