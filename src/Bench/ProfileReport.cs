using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Bench;

/// <summary>
/// <c>profile &lt;folder&gt;</c>: reads the perf recordings a bench run left there (<see cref="PerfRecording"/>) and
/// prints, as Markdown, the CPU milliseconds per command of every process involved, and inside each pipeline's own
/// process the share of each component. A sample counts for the innermost library on its call stack: a socket write
/// that RabbitMQ.Client makes counts for RabbitMQ.Client, an allocation in MassTransit that ends in a collection counts
/// for MassTransit. What no library is on the stack of (the thread pool, the socket engine, the collector's own
/// threads, the JIT) is the runtime's. CoreCLR's native code has no symbols in the shipped runtime, so the collector and
/// the allocator are not told apart from the rest of it: the share of each component's samples that ended in CoreCLR's
/// native code (allocation and collection, casts, stubs) is given beside the kernel's.
/// </summary>
public static partial class ProfileReport
{
    const double SamplesPerSecond = 499;
    static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    // By assembly name prefix, in order: the first that matches names the component.
    static readonly (string Component, string[] Assemblies)[] Components =
    [
        ("MassTransit", ["MassTransit"]),
        ("RabbitMQ.Client", ["RabbitMQ.Client"]),
        ("Marten (with Weasel, JasperFx)", ["Marten", "Weasel", "JasperFx"]),
        ("Polly (Marten's retries)", ["Polly"]),
        ("Npgsql", ["Npgsql"]),
        ("System.Text.Json", ["System.Text.Json"]),
        ("metrics and tracing", ["OpenTelemetry", "System.Diagnostics.DiagnosticSource"]),
        ("logging", ["Microsoft.Extensions.Logging"]),
        ("dependency injection", ["Microsoft.Extensions.DependencyInjection"]),
        ("the pipeline's own code", ["Worker", "Contracts", "Hosting", "Bench"]),
    ];

    const string RuntimeJit = "runtime: JIT";
    const string RuntimeRest = "runtime: thread pool, sockets, collector, other";

    public static Command Command()
    {
        var folder = new Argument<string>("folder") { Description = "A folder written by the bench with --perf" };
        var command = new Command("profile", "Prints CPU per command by process and by component from a bench's perf recordings") { folder };
        command.SetAction((parse, cancellationToken) => PrintAsync(parse.GetValue(folder)!, cancellationToken));
        return command;
    }

    sealed class Tally
    {
        public readonly Dictionary<string, long> ByProcess = [];
        public readonly Dictionary<string, long> ByComponent = [];
        public readonly Dictionary<string, long> KernelByComponent = [];
        public readonly Dictionary<string, long> CoreClrByComponent = [];
        public readonly Dictionary<string, long> ByMethod = [];
        public long Pipeline;
    }

    static async Task<int> PrintAsync(string folder, CancellationToken cancellationToken)
    {
        var runs = new List<(PerfRecording.Run Run, Tally Tally)>();
        foreach (var file in Directory.GetFiles(folder, "*.json").Where(f => File.Exists(Path.ChangeExtension(f, ".data"))).Order())
        {
            var run = JsonSerializer.Deserialize<PerfRecording.Run>(await File.ReadAllTextAsync(file, cancellationToken))!;
            runs.Add((run, await TallyAsync(Path.ChangeExtension(file, ".data"), run, cancellationToken)));
        }
        if (runs.Count == 0)
        {
            Console.Error.WriteLine($"profile: no perf recordings in {folder} (run the bench with --perf {folder})");
            return 2;
        }
        Console.Write(Markdown(runs));
        return 0;
    }

    static string Markdown(List<(PerfRecording.Run Run, Tally Tally)> runs)
    {
        var text = new StringBuilder();
        string PerCommand(long samples, PerfRecording.Run run) =>
            (samples / SamplesPerSecond * 1000 / run.Commands).ToString("F3", Invariant);
        string Header(string first) =>
            $"| {first} | " + string.Join(" | ", runs.Select(r => $"{r.Run.Pipeline} ({r.Run.Commands / r.Run.Seconds:F0}/s)")) + " |\n"
            + "|---|" + string.Concat(runs.Select(_ => "---|")) + "\n";

        text.AppendLine("CPU milliseconds per command, by process:");
        text.AppendLine();
        text.Append(Header("process"));
        foreach (var process in new[] { "pipeline", "broker", "database", "bench", "other" })
        {
            text.AppendLine($"| {process} | " + string.Join(" | ", runs.Select(r => PerCommand(r.Tally.ByProcess.GetValueOrDefault(process), r.Run))) + " |");
        }
        text.AppendLine("| **all** | " + string.Join(" | ", runs.Select(r => $"**{PerCommand(r.Tally.ByProcess.Values.Sum(), r.Run)}**")) + " |");
        text.AppendLine();
        text.AppendLine("Inside the pipeline's process, CPU milliseconds per command by component (in brackets: the shares of it that ended in the kernel and in CoreCLR's native code):");
        text.AppendLine();
        text.Append(Header("component"));
        var components = runs.SelectMany(r => r.Tally.ByComponent).GroupBy(c => c.Key)
            .OrderByDescending(g => g.Max(c => c.Value)).Select(g => g.Key);
        foreach (var component in components)
        {
            text.AppendLine($"| {component} | " + string.Join(" | ", runs.Select(r =>
            {
                var samples = r.Tally.ByComponent.GetValueOrDefault(component);
                var kernel = r.Tally.KernelByComponent.GetValueOrDefault(component);
                var coreClr = r.Tally.CoreClrByComponent.GetValueOrDefault(component);
                return samples == 0 ? "" : $"{PerCommand(samples, r.Run)} ({100.0 * kernel / samples:F0}%, {100.0 * coreClr / samples:F0}%)";
            })) + " |");
        }
        foreach (var (run, tally) in runs)
        {
            text.AppendLine();
            text.AppendLine($"Hottest types in {run.Pipeline}'s process (innermost library frame, share of the process's samples):");
            text.AppendLine();
            foreach (var (method, samples) in tally.ByMethod.OrderByDescending(m => m.Value).Take(20))
            {
                text.AppendLine(string.Create(Invariant, $"- {100.0 * samples / Math.Max(1, tally.Pipeline),4:F1}% {method}"));
            }
        }
        return text.ToString();
    }

    static async Task<Tally> TallyAsync(string data, PerfRecording.Run run, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("perf") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "script", "-i", data, "-F", "comm,pid,tid,ip,sym,dso" }) start.ArgumentList.Add(argument);
        using var perf = Process.Start(start) ?? throw new InvalidOperationException("Could not start perf");
        _ = perf.StandardError.ReadToEndAsync(cancellationToken);
        var tally = new Tally();
        var (comm, pid, frames) = ("", -1, new List<string>());
        void Count()
        {
            if (pid < 0) return;
            var process = Classify(run, pid, comm);
            if (process is not null)
            {
                tally.ByProcess[process] = tally.ByProcess.GetValueOrDefault(process) + 1;
                if (process == "pipeline") CountInPipeline(tally, comm, frames);
            }
            (pid, frames) = (-1, []);
        }
        while (await perf.StandardOutput.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0) { Count(); continue; }
            if (line[0] is not ('\t' or ' '))
            {
                Count();
                var header = SampleHeader().Match(line);
                if (header.Success) (comm, pid) = (header.Groups[1].Value, int.Parse(header.Groups[2].Value, Invariant));
                continue;
            }
            var frame = line.AsSpan().Trim();
            var space = frame.IndexOf(' ');
            frames.Add(space < 0 ? "" : frame[(space + 1)..].ToString());
        }
        Count();
        await perf.WaitForExitAsync(cancellationToken);
        return tally;
    }

    static string? Classify(PerfRecording.Run run, int pid, string comm)
    {
        if (pid == 0) return null; // the idle task
        if (pid == run.PipelinePid) return "pipeline";
        if (pid == run.BenchPid) return "bench";
        if (pid == run.BrokerPid || comm is "erl_child_setup" or "inet_gethost" or "epmd") return "broker";
        if (comm == "postgres") return "database";
        return "other";
    }

    static void CountInPipeline(Tally tally, string comm, List<string> frames)
    {
        tally.Pipeline++;
        string? component = null, method = null;
        foreach (var frame in frames)
        {
            if (AssemblyAndType(frame) is not { } found) continue;
            component = Components.FirstOrDefault(c => c.Assemblies.Any(a => found.Assembly.StartsWith(a, StringComparison.Ordinal))).Component;
            if (component is null) continue;
            method = $"{found.Type} ({component})";
            break;
        }
        component ??= comm.StartsWith(".NET Tiered", StringComparison.Ordinal) || frames.Any(f => f.Contains("libclrjit", StringComparison.Ordinal)) ? RuntimeJit
            : RuntimeRest;
        tally.ByComponent[component] = tally.ByComponent.GetValueOrDefault(component) + 1;
        if (frames.Count > 0 && frames[0].Contains("[kernel.kallsyms]", StringComparison.Ordinal))
            tally.KernelByComponent[component] = tally.KernelByComponent.GetValueOrDefault(component) + 1;
        if (frames.Count > 0 && frames[0].Contains("libcoreclr", StringComparison.Ordinal))
            tally.CoreClrByComponent[component] = tally.CoreClrByComponent.GetValueOrDefault(component) + 1;
        if (method is not null) tally.ByMethod[method] = tally.ByMethod.GetValueOrDefault(method) + 1;
    }

    /// <summary>
    /// The assembly and type of a .NET frame as the runtime's perf map names it, e.g.
    /// <c>instance void [MassTransit] MassTransit.Foo`1[System.__Canon]::Send(...)[OptimizedTier1]</c>: the last
    /// <c>[assembly] </c> before the <c>::</c> (the return type may carry an assembly of its own before it).
    /// </summary>
    static (string Assembly, string Type)? AssemblyAndType(string frame)
    {
        var members = frame.IndexOf("::", StringComparison.Ordinal);
        if (members < 0) return null;
        Match? last = null;
        foreach (Match match in AssemblyName().Matches(frame[..members])) last = match;
        if (last is null) return null;
        var type = frame[(last.Index + last.Length)..members];
        var generic = type.IndexOf('[');
        return (last.Groups[1].Value, generic > 0 ? type[..generic] : type);
    }

    [GeneratedRegex(@"^(.*?)\s+(\d+)/\d+\s*$")]
    private static partial Regex SampleHeader();

    [GeneratedRegex(@"\[([\w.]+)\] ")]
    private static partial Regex AssemblyName();
}
