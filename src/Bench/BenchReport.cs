using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bench;

/// <summary>The bench's output: a table for people, a JSON summary for tools, and a plot of each run over time.</summary>
public static class BenchReport
{
    static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static string Table(IEnumerable<RunMeasurement> runs)
    {
        var text = new StringBuilder();
        text.AppendLine($"{"pipeline",-18} {"commands",9} {"results",8} {"wrong",6} {"seconds",8} {"cmd/s",8} {"p50 ms",8} {"p95 ms",8} {"p99 ms",8} {"max ms",8} {"peak MB",8} {"cores",6} {"CPU ms/cmd: own",15} {"broker",7} {"db",6} {"bench",6} {"segs/cmd",8}");
        foreach (var r in runs)
        {
            text.AppendLine(string.Create(Invariant,
                $"{r.Pipeline,-18} {r.Commands,9} {r.Results,8} {r.UnexpectedOutcomes,6} {r.Seconds,8:F2} {r.Throughput,8:F0} {r.P50Ms,8:F1} {r.P95Ms,8:F1} {r.P99Ms,8:F1} {r.MaxMs,8:F1} {r.Usage?.PeakRssMb,8:F0} {r.Usage?.CpuCores,6:F2} {PerCommand(r, u => u.CpuCores),15:F3} {PerCommand(r, u => u.BrokerCores),7:F3} {PerCommand(r, u => u.DatabaseCores),6:F3} {PerCommand(r, u => u.BenchCores),6:F3} {(double?)r.Usage?.TcpSegments / r.Commands,8:F1}"));
        }
        return text.ToString();
    }

    // CPU milliseconds per command of one process over a run.
    static double? PerCommand(RunMeasurement run, Func<ProcessUsage, double?> cores) =>
        run.Usage is { } usage ? ProcessUsage.MsPerCommand(cores(usage), run.Throughput) : null;

    /// <summary>Worker and limit side by side at each data size, with what the database held.</summary>
    public static string SizeTable(IReadOnlyList<SizeRow> rows, PurgeFigures? purge)
    {
        var text = new StringBuilder();
        text.AppendLine();
        text.AppendLine($"{"data",-14} {"worker/s",9} {"limit/s",8} {"x limit",8} {"rounds",16} {"half p99",9} {"limit p99",9} {"db MB",8} {"inbox",12} {"B/entry",8} {"WAL B/cmd",10}");
        foreach (var r in rows)
        {
            text.AppendLine(string.Create(Invariant,
                $"{r.Label,-14} {r.Throughput,9:F0} {r.Limit,8:F0} {(r.Limit > 0 ? r.Throughput / r.Limit : null),8:F2} {string.Join(" ", r.OfLimitByRound),16} {r.HalfRateP99Ms,9:F1} {r.LimitHalfRateP99Ms,9:F1} {r.DatabaseBytes / 1048576.0,8:F0} {r.InboxEntries,12:N0} {r.InboxBytesPerEntry,8:F0} {r.WalBytesPerCommand,10:F0}"));
        }
        if (purge is not null)
            text.AppendLine(string.Create(Invariant,
                $"purge of one day: {purge.Partitions} partition(s), {purge.Entries:N0} entries, {purge.Milliseconds:F0} ms; half-rate p99 {purge.P99Ms:F1} ms (max {purge.MaxMs:F0}) while it ran, {purge.P99MsWithout:F1} ms (max {purge.MaxMsWithout:F0}) without"));
        return text.ToString();
    }

    public static JsonObject Summary(RunMeasurement? worker, RunMeasurement? limit, RunMeasurement? baseline,
        RunMeasurement? halfRate, RunMeasurement? limitHalfRate, IReadOnlyList<RunMeasurement> runs,
        IDictionary<string, object> settings)
    {
        static JsonNode? Number(double? value) => value is { } v && double.IsFinite(v) ? JsonValue.Create(Math.Round(v, 2)) : null;
        var summary = new JsonObject
        {
            ["throughput"] = Number(worker?.Throughput),
            ["limit"] = Number(limit?.Throughput),
            ["baseline"] = Number(baseline?.Throughput),
            ["ofLimit"] = Number(worker?.Throughput / limit?.Throughput),
            ["timesBaseline"] = Number(worker?.Throughput / baseline?.Throughput),
            ["p50Ms"] = Number(worker?.P50Ms),
            ["p95Ms"] = Number(worker?.P95Ms),
            ["p99Ms"] = Number(worker?.P99Ms),
            ["maxMs"] = Number(worker?.MaxMs),
            ["halfRate"] = Number(halfRate is null ? null : halfRate.Commands / halfRate.Seconds),
            ["p50MsAtHalfRate"] = Number(halfRate?.P50Ms),
            ["p99MsAtHalfRate"] = Number(halfRate?.P99Ms),
            ["limitP50MsAtHalfRate"] = Number(limitHalfRate?.P50Ms),
            ["limitP99MsAtHalfRate"] = Number(limitHalfRate?.P99Ms),
            ["workerPeakRssMb"] = Number(worker?.Usage?.PeakRssMb),
            ["workerCpuCores"] = Number(worker?.Usage?.CpuCores),
            // CPU milliseconds per command of each pipeline's own process, and of the broker and the database beside it.
            ["cpuMsPerCommand"] = new JsonObject
            {
                ["worker"] = CpuObject(worker), ["limit"] = CpuObject(limit), ["baseline"] = CpuObject(baseline),
            },
            ["wrongOutcomes"] = runs.Sum(r => r.UnexpectedOutcomes),
            ["lost"] = runs.Sum(r => r.Commands - r.Results),
        };
        foreach (var (key, value) in settings) summary[key] = JsonValue.Create(value);
        return summary;
    }

    static JsonObject? CpuObject(RunMeasurement? run) => run?.Usage is null ? null : new JsonObject
    {
        ["own"] = Round(PerCommand(run, u => u.CpuCores)),
        ["broker"] = Round(PerCommand(run, u => u.BrokerCores)),
        ["database"] = Round(PerCommand(run, u => u.DatabaseCores)),
        ["bench"] = Round(PerCommand(run, u => u.BenchCores)),
        ["tcpSegments"] = run.Usage.TcpSegments is { } segments ? Round((double)segments / run.Commands) : null,
    };

    static JsonNode? Round(double? value) => value is { } v && double.IsFinite(v) ? JsonValue.Create(Math.Round(v, 4)) : null;

    /// <summary>Results per second and p99 latency over each run's time, one line per run.</summary>
    public static string Plot(IReadOnlyList<RunMeasurement> runs)
    {
        const int width = 900, panel = 260, left = 70, top = 30, gap = 60;
        string[] colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
        var maxTime = Math.Max(1, runs.SelectMany(r => r.Timeline).Select(p => p.Second).DefaultIfEmpty(1).Max());
        var maxRate = Math.Max(1, runs.SelectMany(r => r.Timeline).Select(p => p.PerSecond).DefaultIfEmpty(1).Max());
        var maxLatency = Math.Max(1, runs.SelectMany(r => r.Timeline).Select(p => p.P99Ms).Where(double.IsFinite).DefaultIfEmpty(1).Max());
        var svg = new StringBuilder();
        var height = top + 2 * panel + gap + 60;
        svg.AppendLine(string.Create(Invariant, $"""<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"""));
        svg.AppendLine($"""<rect width="{width}" height="{height}" fill="white"/>""");

        void Panel(int y, string title, double max, Func<(double Second, double PerSecond, double P99Ms), double> value)
        {
            var plotWidth = width - left - 160;
            svg.AppendLine(string.Create(Invariant, $"""<text x="{left}" y="{y - 8}" font-weight="bold">{title}</text>"""));
            svg.AppendLine(string.Create(Invariant, $"""<rect x="{left}" y="{y}" width="{plotWidth}" height="{panel}" fill="none" stroke="#999"/>"""));
            for (var i = 0; i <= 4; i++)
            {
                var gy = y + panel - panel * i / 4.0;
                svg.AppendLine(string.Create(Invariant, $"""<line x1="{left}" x2="{left + plotWidth}" y1="{gy:F1}" y2="{gy:F1}" stroke="#eee"/><text x="{left - 6}" y="{gy + 4:F1}" text-anchor="end">{max * i / 4:F0}</text>"""));
            }
            for (var i = 0; i <= 5; i++)
            {
                var gx = left + plotWidth * i / 5.0;
                svg.AppendLine(string.Create(Invariant, $"""<text x="{gx:F1}" y="{y + panel + 16}" text-anchor="middle">{maxTime * i / 5:F1} s</text>"""));
            }
            for (var r = 0; r < runs.Count; r++)
            {
                var points = runs[r].Timeline.Where(p => double.IsFinite(value(p)))
                    .Select(p => string.Create(Invariant, $"{left + plotWidth * p.Second / maxTime:F1},{y + panel - panel * Math.Min(value(p), max) / max:F1}"));
                svg.AppendLine($"""<polyline fill="none" stroke="{colours[r % colours.Length]}" stroke-width="2" points="{string.Join(' ', points)}"/>""");
                svg.AppendLine(string.Create(Invariant, $"""<text x="{left + plotWidth + 12}" y="{y + 16 + 18 * r}" fill="{colours[r % colours.Length]}">{runs[r].Pipeline}</text>"""));
            }
        }

        Panel(top, "results per second (half-second steps from the first publish)", maxRate * 1.1, p => p.PerSecond);
        Panel(top + panel + gap, "p99 latency, publish to result event (ms)", maxLatency * 1.1, p => p.P99Ms);
        svg.AppendLine("</svg>");
        return svg.ToString();
    }

    public static string Json(JsonObject summary) => summary.ToJsonString();
}

/// <summary>One data size's line of the size table.</summary>
public sealed record SizeRow(string Label, int Documents, double? Throughput, double? Limit, double[] OfLimitByRound,
    double? HalfRateP99Ms, double? LimitHalfRateP99Ms, long DatabaseBytes, long InboxEntries, double? InboxBytesPerEntry,
    double? WalBytesPerCommand);

/// <summary>Commands on an account with a long consent history against the same on a new account, best of two rounds.</summary>
public sealed record HistoryFigures(int Events, int Rate, double P50Ms, double P99Ms, double NewP50Ms, double NewP99Ms);

/// <summary>The purge of one day's inbox partition while the worker serves at half rate, against the same rate without.</summary>
public sealed record PurgeFigures(double Milliseconds, int Partitions, long Entries, double P99Ms, double MaxMs,
    double? P99MsWithout, double? MaxMsWithout);
