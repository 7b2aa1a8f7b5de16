using System.Diagnostics;

namespace Bench;

/// <summary>Peak resident memory (MB) and the CPU a process used over a run, in cores (1.0 = one core busy).</summary>
public sealed record ProcessUsage(int ProcessId, double PeakRssMb, double CpuCores);

/// <summary>
/// Samples a process's resident memory every 100 ms from /proc while a run lasts, and its CPU time at the start and
/// the end (Linux only: elsewhere nothing is reported).
/// </summary>
public sealed class ProcessSampler(int processId) : IDisposable
{
    public int ProcessId => processId;

    long _cpuStart;
    long _started;
    double _peakKb;
    CancellationTokenSource? _stop;
    Task? _sampling;

    /// <summary>
    /// The worker process: one running Worker.dll (or the Worker executable) outside a test run; the newest if
    /// there are several.
    /// </summary>
    public static int? FindWorker()
    {
        if (!Directory.Exists("/proc")) return null;
        var found = new List<(int Pid, DateTime Started)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId) continue;
            try
            {
                var args = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0', StringSplitOptions.RemoveEmptyEntries);
                if (args.Any(a => (a.EndsWith("/Worker.dll") || a == "Worker.dll" || a.EndsWith("/Worker")) && !a.Contains("/tests/"))
                    && !args.Any(a => a is "build" or "run"))
                {
                    found.Add((pid, Directory.GetCreationTimeUtc(dir)));
                }
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found.Count == 0 ? null : found.MaxBy(f => f.Started).Pid;
    }

    public void Start()
    {
        _peakKb = 0;
        _cpuStart = CpuTicks();
        _started = Stopwatch.GetTimestamp();
        _stop = new CancellationTokenSource();
        _sampling = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
            do _peakKb = Math.Max(_peakKb, RssKb());
            while (await timer.WaitForNextTickAsync(_stop.Token).AsTask().ContinueWith(t => !t.IsCanceled && t.Result));
        });
    }

    public ProcessUsage? Stop()
    {
        if (_stop is null) return null;
        _stop.Cancel();
        _sampling!.Wait();
        _peakKb = Math.Max(_peakKb, RssKb());
        var seconds = (double)(Stopwatch.GetTimestamp() - _started) / Stopwatch.Frequency;
        // /proc reports CPU time in clock ticks, 100 per second on Linux.
        var cpu = (CpuTicks() - _cpuStart) / 100.0 / Math.Max(seconds, 1e-9);
        return _peakKb == 0 ? null : new ProcessUsage(processId, _peakKb / 1024, cpu);
    }

    double RssKb()
    {
        try
        {
            var line = File.ReadLines($"/proc/{processId}/status").FirstOrDefault(l => l.StartsWith("VmRSS:"));
            return line is null ? 0 : double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        }
        catch (IOException) { return 0; }
    }

    long CpuTicks() => CpuTicks($"/proc/{processId}/stat");

    /// <summary>
    /// CPU time (clock ticks) the .NET runtime's background JIT thread has used in a process: while it keeps working,
    /// the process still runs code that is not optimised yet. Null where /proc is not there to tell.
    /// </summary>
    public static long? JitCpuTicks(int processId)
    {
        var tasks = $"/proc/{processId}/task";
        if (!Directory.Exists(tasks)) return null;
        long ticks = 0;
        foreach (var task in Directory.EnumerateDirectories(tasks))
        {
            try
            {
                // The runtime names it ".NET Tiered Compilation Worker"; Linux keeps the first 15 characters.
                if (File.ReadAllText(Path.Combine(task, "comm")).StartsWith(".NET Tiered Com"))
                {
                    ticks += CpuTicks(Path.Combine(task, "stat"));
                }
            }
            catch (IOException) { }
        }
        return ticks;
    }

    static long CpuTicks(string statFile)
    {
        try
        {
            // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are 14 and 15.
            var stat = File.ReadAllText(statFile);
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[11]) + long.Parse(fields[12]);
        }
        catch (IOException) { return 0; }
    }

    public void Dispose() => _stop?.Dispose();
}
