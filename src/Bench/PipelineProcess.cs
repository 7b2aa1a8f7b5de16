using System.Diagnostics;

namespace Bench;

/// <summary>
/// The limit or the baseline in a process of its own, as the worker runs in its own: the CPU and memory measured for
/// it are then its own, not shared with the bench's publisher and result consumer, and a profile tells them apart.
/// The process is this bench started with <c>host</c>; it says "ready" once it consumes, and stops when its standard
/// input closes. It lives for the whole bench, so that it is warmed up once, like the worker.
/// </summary>
public sealed class PipelineProcess : IAsyncDisposable
{
    const string Ready = "ready";
    readonly Process _process;
    readonly Task _forwarding;

    PipelineProcess(Process process, Task forwarding) => (_process, _forwarding) = (process, forwarding);

    public int ProcessId => _process.Id;

    public static async Task<PipelineProcess> StartAsync(IEnumerable<string> hostArguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
        };
        // Run as `dotnet Bench.dll` or as the Bench executable.
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
            start.ArgumentList.Add(typeof(PipelineProcess).Assembly.Location);
        start.ArgumentList.Add("host");
        foreach (var argument in hostArguments) start.ArgumentList.Add(argument);
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start a pipeline process");
        while (await process.StandardOutput.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line == Ready)
            {
                // What it says later (warnings) goes on to the bench's output, and its pipe never fills.
                var forwarding = Task.Run(async () =>
                {
                    while (await process.StandardOutput.ReadLineAsync() is { } more) Console.WriteLine(more);
                });
                return new PipelineProcess(process, forwarding);
            }
            Console.WriteLine(line);
        }
        await process.WaitForExitAsync(cancellationToken);
        throw new InvalidOperationException($"The pipeline process ({string.Join(' ', start.ArgumentList.Skip(1).Take(3))}) ended before it was ready, exit code {process.ExitCode}");
    }

    /// <summary>In the child: says it is ready, then waits until the bench closes its standard input.</summary>
    public static async Task ServeUntilReleasedAsync()
    {
        Console.WriteLine(Ready);
        await Console.In.ReadToEndAsync();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _process.WaitForExitAsync(patience.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }
        await _forwarding;
        _process.Dispose();
    }
}
