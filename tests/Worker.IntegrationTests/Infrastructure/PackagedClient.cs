using System.Diagnostics;
using System.Text.Json;

namespace Worker.IntegrationTests.Infrastructure;

/// <summary>
/// tests/PackageUser, a .NET service of another team, built the way such a team builds it: against the
/// UpdateWorker.Contracts package that <c>dotnet pack src/Contracts</c> makes, restored from a folder feed into a
/// package folder of its own (so no copy cached by an earlier build stands in for it), never against the project.
/// </summary>
public sealed class PackagedClient : IAsyncDisposable
{
    static readonly SemaphoreSlim BuildGate = new(1, 1);
    static string? _built;

    readonly Process _process;
    readonly SemaphoreSlim _lines = new(0);
    readonly Queue<string> _received = new();
    readonly System.Text.StringBuilder _errors = new();

    PackagedClient(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, line) =>
        {
            if (line.Data is null) return;
            lock (_received) _received.Enqueue(line.Data);
            _lines.Release();
        };
        process.ErrorDataReceived += (_, line) => { lock (_errors) _errors.AppendLine(line.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>Starts the app in <paramref name="mode"/> (requests, subscribe) against the broker.</summary>
    public static async Task<PackagedClient> StartAsync(string mode, string rabbitMq)
    {
        var app = await BuildAsync();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (var argument in new[] { app, mode, rabbitMq }) start.ArgumentList.Add(argument);
        // MassTransit reads this after its options, and it would turn the usage report the app disables back on.
        start.Environment.Remove("MASSTRANSIT_USAGE_TELEMETRY");
        return new PackagedClient(Process.Start(start)!);
    }

    /// <summary>Writes one line to the app's input.</summary>
    public async Task WriteAsync(object line)
    {
        await _process.StandardInput.WriteLineAsync(JsonSerializer.Serialize(line));
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>The app's next line of output, as JSON.</summary>
    public async Task<JsonElement> ReadAsync(TimeSpan? timeout = null)
    {
        if (!await _lines.WaitAsync(timeout ?? TimeSpan.FromSeconds(90)))
            throw new TimeoutException($"the packaged client wrote nothing; its errors: {Errors}");
        string line;
        lock (_received) line = _received.Dequeue();
        return JsonDocument.Parse(line).RootElement.Clone();
    }

    public string Errors { get { lock (_errors) return _errors.ToString(); } }

    public async ValueTask DisposeAsync()
    {
        _process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
    }

    /// <summary>Packs src/Contracts and builds the app on the package, once per test run; returns the app's dll.</summary>
    static async Task<string> BuildAsync()
    {
        await BuildGate.WaitAsync();
        try
        {
            if (_built is not null) return _built;
            // make test builds it before the tests start (scripts/test.sh), the same way as below.
            if (Environment.GetEnvironmentVariable("WORKER_IT_PACKAGE_USER") is { } prebuilt && File.Exists(prebuilt))
                return _built = prebuilt;
            var root = LocalServices.RepositoryRoot();
            var work = Path.Combine(Path.GetTempPath(), $"package-user-{Guid.NewGuid():N}");
            var (feed, packages, output) = (Path.Combine(work, "feed"), Path.Combine(work, "packages"), Path.Combine(work, "app"));
            // The version the package gets is the product's, from Directory.Build.props.
            await RunAsync(root, "pack", "src/Contracts", "-c", "Release", "-o", feed, "--nologo", "-v", "quiet");
            var package = Path.GetFileNameWithoutExtension(Directory.GetFiles(feed, "UpdateWorker.Contracts.*.nupkg").Single());
            var version = package["UpdateWorker.Contracts.".Length..];
            await RunAsync(root, "build", "tests/PackageUser", "-c", "Release", "-o", output, "--nologo", "-v", "quiet",
                $"-p:ContractsVersion={version}", $"-p:RestoreAdditionalProjectSources={feed}",
                $"-p:RestorePackagesPath={packages}");
            return _built = Path.Combine(output, "PackageUser.dll");
        }
        finally
        {
            BuildGate.Release();
        }
    }

    static async Task RunAsync(string directory, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"dotnet {string.Join(' ', arguments)} failed:\n{await output}\n{await errors}");
    }
}
