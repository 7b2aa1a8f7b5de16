using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Bench;

/// <summary>
/// A system-wide CPU profile of one measured run, taken with Linux perf (call stacks, 499 samples a second on each
/// CPU), beside what the report needs to read it: the run's commands and seconds, and which process was which.
/// The .NET processes must run with <c>DOTNET_PerfMapEnabled=1</c> for perf to name their compiled methods
/// (scripts/profile.sh sets it).
/// </summary>
public sealed class PerfRecording
{
    public sealed record Run(string Pipeline, int Commands, double Seconds, int PipelinePid, int BenchPid, int? BrokerPid,
        int? DatabasePid);

    readonly Process _perf;
    readonly string _file;

    PerfRecording(Process perf, string file) => (_perf, _file) = (perf, file);

    public static PerfRecording Start(string folder, string pipeline)
    {
        Directory.CreateDirectory(folder);
        var file = Path.Combine(folder, FileName(pipeline) + ".data");
        var start = new ProcessStartInfo("perf") { RedirectStandardError = true };
        foreach (var argument in new[] { "record", "-a", "-g", "-F", "499", "-q", "-o", file }) start.ArgumentList.Add(argument);
        var perf = Process.Start(start) ?? throw new InvalidOperationException("Could not start perf");
        // perf is recording once it has opened its output; before that the run would go unrecorded.
        var waited = Stopwatch.StartNew();
        while (!File.Exists(file) && !perf.HasExited && waited.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(20);
        if (perf.HasExited) throw new InvalidOperationException($"perf record failed: {perf.StandardError.ReadToEnd().Trim()}");
        return new PerfRecording(perf, file);
    }

    /// <summary>Stops the recording as Ctrl+C would, so that perf writes its file out, and notes what the run was.</summary>
    public async Task StopAsync(RunMeasurement run, int pipelinePid, CancellationToken cancellationToken)
    {
        _ = kill(_perf.Id, 2);
        await _perf.WaitForExitAsync(cancellationToken);
        var neighbours = ProcessSampler.Neighbours;
        var described = new Run(run.Pipeline, run.Commands, run.Seconds, pipelinePid, Environment.ProcessId,
            neighbours.BrokerPid, neighbours.DatabasePid);
        await File.WriteAllTextAsync(Path.ChangeExtension(_file, ".json"), JsonSerializer.Serialize(described), cancellationToken);
    }

    static string FileName(string pipeline) => string.Concat(pipeline.Select(c => char.IsLetterOrDigit(c) ? c : '-'));

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int signal);
}
