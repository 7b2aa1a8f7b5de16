using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Worker.IntegrationTests.Infrastructure;

using Worker.IntegrationTests.Reliability;

namespace Worker.OutageTests;

/// <summary>
/// Watches a worker process through an outage as an operator's tools do: its <c>/metrics</c> twice a second (when
/// each dependency was first reported away, how many commands it held at most), and its log from the moment the
/// observer starts (the entries of every category but the per-command answers, in the plain or the JSON format).
/// </summary>
public sealed class OutageObserver : IAsyncDisposable
{
    readonly WorkerProcess _worker;
    readonly int _logFrom;
    readonly Stopwatch _clock = Stopwatch.StartNew();
    readonly CancellationTokenSource _stop = new();
    readonly Task _polling;
    readonly Dictionary<string, TimeSpan> _firstAway = [];

    public OutageObserver(WorkerProcess worker)
    {
        _worker = worker;
        _logFrom = worker.Output.Length;
        _polling = Task.Run(PollAsync);
    }

    public int MostHeld { get; private set; }

    /// <summary>The time on the observer's clock: mark a fault's start with it.</summary>
    public TimeSpan Now => _clock.Elapsed;

    /// <summary>When the worker's metrics first said the dependency (database, broker) was away; null if never.</summary>
    public TimeSpan? FirstAway(string dependency)
    {
        lock (_firstAway) return _firstAway.TryGetValue(dependency, out var at) ? at : null;
    }

    async Task PollAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var metrics = await _worker.MetricsAsync();
                foreach (var dependency in (string[])["database", "broker"])
                {
                    if (Value(metrics, "worker_dependency_away", dependency) == 1)
                        lock (_firstAway) _firstAway.TryAdd(dependency, _clock.Elapsed);
                }
                MostHeld = Math.Max(MostHeld, (int)(Value(metrics, "worker_commands_held", null) ?? 0));
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // The worker is busy or gone; the next poll tells.
            }
            try { await Task.Delay(500, _stop.Token); } catch (OperationCanceledException) { }
        }
    }

    /// <summary>A sample's value by its name and, when given, its dependency label.</summary>
    public static double? Value(string metrics, string name, string? dependency)
    {
        foreach (var line in metrics.Split('\n'))
        {
            if (!line.StartsWith(name + "{", StringComparison.Ordinal)) continue;
            if (dependency is not null && !line.Contains($"dependency=\"{dependency}\"", StringComparison.Ordinal)) continue;
            return double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
        }
        return null;
    }

    public sealed record LogEntry(string Level, string Category, string Message, bool HasStackTrace);

    /// <summary>
    /// The entries logged since the observer started, but the answers to single commands (CommandAnswers: a command
    /// the API refuses, which the stream has on purpose): what the worker said about everything else.
    /// </summary>
    public IReadOnlyList<LogEntry> LogEntries()
    {
        var entries = new List<LogEntry>();
        var lines = _worker.Output[_logFrom..].Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        for (var i = 0; i < lines.Count; i++)
        {
            var line = lines[i];
            if (line.StartsWith('{'))
            {
                using var json = JsonDocument.Parse(line);
                var root = json.RootElement;
                var exception = root.TryGetProperty("Exception", out var e) ? e.GetString() : null;
                entries.Add(new LogEntry(root.GetProperty("LogLevel").GetString()!, root.GetProperty("Category").GetString()!,
                    (root.GetProperty("Message").GetString() ?? "") + (exception is { Length: > 0 } ? " | " + exception.Split('\n')[0] : ""),
                    exception is { Length: > 0 }));
                continue;
            }
            var header = System.Text.RegularExpressions.Regex.Match(line, @"^(trce|dbug|info|warn|fail|crit): ([^\[]+)\[");
            if (!header.Success) continue;
            // The plain format indents the message and a stack trace beneath the header.
            var body = lines.Skip(i + 1).TakeWhile(l => l.StartsWith("      ")).ToList();
            // The message, and a stack trace's first line: the exception's type and message.
            entries.Add(new LogEntry(header.Groups[1].Value, header.Groups[2].Value, string.Join(" | ", body.Take(2)).Trim(),
                body.Any(l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal))));
        }
        return entries.Where(e => e.Category != "Worker.Observability.CommandAnswers").ToList();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _polling;
        _stop.Dispose();
    }
}
