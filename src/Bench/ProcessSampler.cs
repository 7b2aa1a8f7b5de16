using System.Diagnostics;

namespace Bench;

/// <summary>
/// Peak resident memory (MB) and the CPU a process used over a run, in cores (1.0 = one core busy); beside it, what the
/// broker, the database and the bench's own process (publisher and result consumer) used over the same time, where known,
/// and the TCP segments the machine sent meanwhile (on loopback, each is a wake-up and a read for its receiver).
/// </summary>
public sealed record ProcessUsage(int ProcessId, double PeakRssMb, double CpuCores, double? BrokerCores = null,
    double? DatabaseCores = null, double? BenchCores = null, long? TcpSegments = null)
{
    /// <summary>Milliseconds of CPU per command, for cores used over a run of so many commands per second.</summary>
    public static double? MsPerCommand(double? cores, double throughput) => cores / throughput * 1000;
}

/// <summary>
/// The servers a run uses, by the process id of each one's main process; their CPU is counted with their children's
/// (PostgreSQL's backends, the Erlang VM's helpers).
/// </summary>
public sealed record Neighbours(int? BrokerPid, int? DatabasePid);

/// <summary>
/// Samples a process's resident memory every 100 ms from /proc while a run lasts, and its CPU time at the start and
/// the end (Linux only: elsewhere nothing is reported).
/// </summary>
public sealed class ProcessSampler(int processId) : IDisposable
{
    public int ProcessId => processId;

    /// <summary>Set once by the bench when it knows the servers' process ids.</summary>
    public static Neighbours Neighbours { get; set; } = new(null, null);

    long _cpuStart;
    long? _brokerStart, _databaseStart;
    long _benchStart;
    long? _segmentsStart;
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
        _brokerStart = TreeTicks(Neighbours.BrokerPid);
        _databaseStart = TreeTicks(Neighbours.DatabasePid);
        _benchStart = CpuTicks($"/proc/{Environment.ProcessId}/stat");
        _segmentsStart = TcpSegmentsSent();
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
        double Cores(long ticks) => ticks / 100.0 / Math.Max(seconds, 1e-9);
        var cpu = Cores(CpuTicks() - _cpuStart);
        var broker = TreeTicks(Neighbours.BrokerPid) - _brokerStart;
        var database = TreeTicks(Neighbours.DatabasePid) - _databaseStart;
        // When the pipeline runs in the bench's own process, the bench's share is not told apart.
        double? bench = processId == Environment.ProcessId ? null : Cores(CpuTicks($"/proc/{Environment.ProcessId}/stat") - _benchStart);
        return _peakKb == 0 ? null : new ProcessUsage(processId, _peakKb / 1024, cpu,
            broker is { } b ? Cores(b) : null, database is { } d ? Cores(d) : null, bench, TcpSegmentsSent() - _segmentsStart);
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

    /// <summary>TCP segments sent by the whole machine so far (OutSegs in /proc/net/snmp); null where not there.</summary>
    static long? TcpSegmentsSent()
    {
        try
        {
            var tcp = File.ReadLines("/proc/net/snmp").Where(l => l.StartsWith("Tcp:")).Select(l => l.Split(' ')).ToList();
            if (tcp.Count < 2) return null;
            var column = Array.IndexOf(tcp[0], "OutSegs");
            return column < 0 ? null : long.Parse(tcp[1][column]);
        }
        catch (IOException) { return null; }
    }

    /// <summary>
    /// CPU time of a process and of its children, live or ended: a child that has exited and been waited for counts in
    /// its parent's cutime and cstime. Null without the process.
    /// </summary>
    public static long? TreeTicks(int? rootPid)
    {
        if (rootPid is not { } root || !File.Exists($"/proc/{root}/stat")) return null;
        long ticks = CpuTicks($"/proc/{root}/stat", withEndedChildren: true);
        foreach (var child in ChildrenOf(root)) ticks += CpuTicks($"/proc/{child}/stat");
        return ticks;
    }

    /// <summary>The processes whose parent is the given one (from each process's stat; Linux lists no children by itself).</summary>
    public static List<int> ChildrenOf(int parent)
    {
        var children = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                // The field after the state is the parent's id.
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(fields[1]) == parent) children.Add(pid);
            }
            catch (IOException) { }
        }
        return children;
    }

    static long CpuTicks(string statFile, bool withEndedChildren = false)
    {
        try
        {
            // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are 14 and 15.
            var stat = File.ReadAllText(statFile);
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[11]) + long.Parse(fields[12])
                + (withEndedChildren ? long.Parse(fields[13]) + long.Parse(fields[14]) : 0);
        }
        catch (IOException) { return 0; }
    }

    public void Dispose() => _stop?.Dispose();
}
