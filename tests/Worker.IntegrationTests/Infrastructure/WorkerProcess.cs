using System.Diagnostics;
using System.Text;

namespace Worker.IntegrationTests.Infrastructure;

/// <summary>
/// The worker as its own operating-system process (the built Worker.dll), so that tests can kill it with SIGKILL or
/// stop it with SIGTERM exactly as an orchestrator would.
/// </summary>
public sealed class WorkerProcess : IAsyncDisposable
{
    readonly Process _process;
    readonly StringBuilder _output = new();
    readonly int _healthPort;

    WorkerProcess(Process process, int healthPort)
    {
        _process = process;
        _healthPort = healthPort;
    }

    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    /// <summary>The exit code, once the worker has exited.</summary>
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;
    public string Output { get { lock (_output) return _output.ToString(); } }

    public static Task<WorkerProcess> StartAsync(LocalServices services, IDictionary<string, string>? settings = null) =>
        StartAsync(services.RabbitMq, services.Postgres, settings);

    public static async Task<WorkerProcess> StartAsync(string rabbitMq, string postgres, IDictionary<string, string>? settings = null)
    {
        var healthPort = LocalServices.FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Worker.dll"));
        start.Environment["ConnectionStrings__RabbitMq"] = rabbitMq;
        start.Environment["ConnectionStrings__Postgres"] = postgres;
        start.Environment["Health__Urls"] = $"http://127.0.0.1:{healthPort}";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["Logging__LogLevel__Worker"] = "Information";
        // A stuck command is given up on sooner than in production, so that a test sees the whole recovery; set in
        // the test run's own environment, the setting wins.
        start.Environment.TryAdd("Messaging__StuckCommandAfter", "00:00:30");
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) start.Environment[key] = value;

        var process = Process.Start(start)!;
        var worker = new WorkerProcess(process, healthPort);
        process.OutputDataReceived += (_, e) => worker.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => worker.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await worker.WaitUntilReadyAsync();
        return worker;
    }

    // Only the last 1 MiB: a worker that logs in a loop must not take the test runner's memory with it.
    void Keep(string? line)
    {
        lock (_output)
        {
            _output.AppendLine(line);
            if (_output.Length > 2 * 1024 * 1024) _output.Remove(0, _output.Length - 1024 * 1024);
        }
    }

    /// <summary>Waits for /health/ready to answer 200: the bus is connected and PostgreSQL answers.</summary>
    public async Task WaitUntilReadyAsync(TimeSpan? timeout = null)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited) throw new InvalidOperationException($"The worker exited with {_process.ExitCode}:\n{Output}");
            try
            {
                using var response = await client.GetAsync($"http://127.0.0.1:{_healthPort}/health/ready");
                if (response.IsSuccessStatusCode) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"The worker did not become ready:\n{Output}");
    }

    /// <summary>/health/ready's status code and body.</summary>
    public async Task<(int Status, string Body)> ReadinessAsync()
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        using var response = await client.GetAsync($"http://127.0.0.1:{_healthPort}/health/ready");
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public async Task<int> ReadinessStatusAsync()
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        using var response = await client.GetAsync($"http://127.0.0.1:{_healthPort}/health/ready");
        return (int)response.StatusCode;
    }

    /// <summary>The process's resident memory now and at its peak (VmRSS, VmHWM), in bytes.</summary>
    public async Task<(long Now, long Peak)> MemoryAsync()
    {
        var status = await File.ReadAllLinesAsync($"/proc/{_process.Id}/status");
        long Kb(string field) => long.Parse(status.First(line => line.StartsWith(field + ":"))[(field.Length + 1)..]
            .Trim().Split(' ')[0]) * 1024;
        return (Kb("VmRSS"), Kb("VmHWM"));
    }

    /// <summary>The worker's <c>/metrics</c> exposition.</summary>
    public async Task<string> MetricsAsync()
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        return await client.GetStringAsync($"http://127.0.0.1:{_healthPort}/metrics");
    }

    /// <summary>How many commands this worker has answered so far, by its own <c>/metrics</c>.</summary>
    public async Task<long> CommandsAnsweredAsync()
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        return CommandsAnswered(await client.GetStringAsync($"http://127.0.0.1:{_healthPort}/metrics"));
    }

    /// <summary>The sum of <c>worker_commands_total</c> over its labels in a <c>/metrics</c> exposition.</summary>
    public static long CommandsAnswered(string metrics) =>
        metrics.Split('\n').Where(line => line.StartsWith("worker_commands_total{"))
            .Sum(line => (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>SIGKILL: no chance to finish anything.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGSTOP, then SIGCONT after <paramref name="pause"/>: a process the machine stopped scheduling for a while.</summary>
    public async Task PauseAsync(TimeSpan pause)
    {
        await SignalAsync("-STOP");
        try
        {
            await Task.Delay(pause);
        }
        finally
        {
            await SignalAsync("-CONT");
        }
    }

    async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", [signal, _process.Id.ToString()]);
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>SIGTERM, as `docker stop` sends it; returns the exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        await SignalAsync("-TERM");
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) await KillAsync();
        // WORKER_IT_KEEP=1 keeps every worker's output, to read after a failed run.
        if (Environment.GetEnvironmentVariable("WORKER_IT_KEEP") == "1")
            await File.WriteAllTextAsync(Path.Combine(Path.GetTempPath(), $"worker-{_process.Id}.log"), Output);
        _process.Dispose();
    }
}
