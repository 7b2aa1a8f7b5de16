using System.Net.Http.Json;
using System.Text.Json;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.Deployment;

/// <summary>
/// The container engine's API at DOCKER_HOST, as the docker client and docker-compose speak it: what an operator's
/// <c>docker inspect</c>, <c>docker stop</c>, <c>docker history</c> and <c>docker save</c> ask for.
/// </summary>
public sealed class ContainerEngine : IDisposable
{
    readonly HttpClient _http;

    ContainerEngine(HttpClient http) => _http = http;

    public static ContainerEngine Connect() =>
        new(ServerContainers.EngineClient(Environment.GetEnvironmentVariable("DOCKER_HOST"), TimeSpan.FromMinutes(5))
            ?? throw new InvalidOperationException("No container engine at DOCKER_HOST"));

    public async Task<JsonElement> GetAsync(string path)
    {
        using var response = await _http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"GET {path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public Task<Stream> GetStreamAsync(string path) => _http.GetStreamAsync(path);

    /// <summary>Containers, networks or volumes (<paramref name="kind"/>) that carry the label.</summary>
    public async Task<List<JsonElement>> ListAsync(string kind, string label, bool all = true)
    {
        var filters = Uri.EscapeDataString(JsonSerializer.Serialize(new Dictionary<string, string[]> { ["label"] = [label] }));
        var listed = await GetAsync($"{kind}{(kind == "containers" ? "/json" : "")}?filters={filters}{(all ? "&all=true" : "")}");
        // The volume listing is an object with the list inside.
        var items = listed.ValueKind == JsonValueKind.Object ? listed.GetProperty("Volumes") : listed;
        return items.ValueKind == JsonValueKind.Array ? items.EnumerateArray().ToList() : [];
    }

    /// <summary>
    /// <c>docker stop -t</c>: SIGTERM (the image's stop signal), then SIGKILL if the container has not exited within
    /// <paramref name="grace"/>. Returns once it has stopped.
    /// </summary>
    public async Task StopAsync(string container, TimeSpan grace)
    {
        using var response = await _http.PostAsync($"containers/{container}/stop?t={(int)grace.TotalSeconds}", null);
        if (!response.IsSuccessStatusCode && (int)response.StatusCode != 304)
            throw new InvalidOperationException($"stop {container}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>Whether the engine is podman, which schedules no health checks where systemd does not run.</summary>
    public async Task<bool> IsPodmanAsync()
    {
        var version = await GetAsync("version");
        return version.TryGetProperty("Components", out var components) && components.ValueKind == JsonValueKind.Array
            && components.EnumerateArray().Any(c => c.GetProperty("Name").GetString()!.Contains("Podman", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Runs a container's own health check once (podman's API), which records its result as the engine's timer would.</summary>
    public async Task<string> RunHealthCheckAsync(string container)
    {
        using var response = await _http.GetAsync($"v4.0.0/libpod/containers/{container}/healthcheck");
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return body.TryGetProperty("Status", out var status) ? status.GetString() ?? "" : body.ToString();
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>
/// Runs each labelled container's health check at the interval it declares, as Docker's engine does by itself.
/// Podman schedules health checks with systemd timers and, where no systemd runs (a CI sandbox, a container), runs
/// none: docker-compose's <c>condition: service_healthy</c> would then wait forever. The checks run are the
/// containers' own commands, in the containers; only the timer is this one. On Docker it does nothing.
/// </summary>
public sealed class HealthCheckTimer : IAsyncDisposable
{
    readonly CancellationTokenSource _stop = new();
    readonly Task _running;

    HealthCheckTimer(ContainerEngine engine, string label, bool podman) =>
        _running = podman ? Task.Run(() => RunAsync(engine, label, _stop.Token)) : Task.CompletedTask;

    public static async Task<HealthCheckTimer> StartAsync(ContainerEngine engine, string label) =>
        new(engine, label, await engine.IsPodmanAsync());

    static async Task RunAsync(ContainerEngine engine, string label, CancellationToken stop)
    {
        var due = new Dictionary<string, DateTime>();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                foreach (var listed in await engine.ListAsync("containers", label, all: false))
                {
                    var id = listed.GetProperty("Id").GetString()!;
                    if (due.TryGetValue(id, out var next) && next > DateTime.UtcNow) continue;
                    var config = (await engine.GetAsync($"containers/{id}/json")).GetProperty("Config");
                    if (!config.TryGetProperty("Healthcheck", out var check) || check.ValueKind != JsonValueKind.Object
                        || !check.TryGetProperty("Test", out var test) || test.ValueKind != JsonValueKind.Array
                        || test.GetArrayLength() == 0 || test[0].GetString() == "NONE")
                    {
                        due[id] = DateTime.MaxValue;
                        continue;
                    }
                    // Nanoseconds; Docker's default is 30 s.
                    var interval = check.TryGetProperty("Interval", out var ns) && ns.GetInt64() > 0
                        ? TimeSpan.FromTicks(ns.GetInt64() / 100) : TimeSpan.FromSeconds(30);
                    due[id] = DateTime.UtcNow + interval;
                    _ = engine.RunHealthCheckAsync(id).ContinueWith(_ => { }, TaskScheduler.Default);
                }
            }
            catch (Exception) when (!stop.IsCancellationRequested)
            {
                // A container that went away between the listing and the check: the next round lists afresh.
            }
            try { await Task.Delay(TimeSpan.FromSeconds(1), stop); } catch (OperationCanceledException) { }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _running;
        _stop.Dispose();
    }
}
