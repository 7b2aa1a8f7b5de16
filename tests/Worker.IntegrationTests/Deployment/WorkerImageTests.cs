using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Worker.IntegrationTests.Infrastructure;
using Worker.IntegrationTests.Reliability;
using Xunit.Abstractions;

namespace Worker.IntegrationTests.Deployment;

/// <summary>
/// The worker's image as a platform team runs it: built from src/Worker/Dockerfile (scripts/test.sh), run as a
/// non-root user, its connection strings read from /run/secrets and nowhere in the image, stopped with
/// <c>docker stop</c> in the middle of a stream without losing, repeating or reordering anything, and its health
/// check command answering. Needs a container engine (scripts/test.sh says when it is not run).
/// </summary>
[Collection(FaultCollection.Name)]
[Trait("Needs", "Containers")]
public sealed class WorkerImageTests(FaultFixture fixture, ITestOutputHelper output) : StreamScenario(fixture, output)
{
    const int Count = 2000;
    /// <summary>docker-compose.yml's stop_grace_period: what the orchestrator waits before SIGKILL.</summary>
    static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(40);

    static string Secrets(string file) => Path.Combine(LocalServices.RepositoryRoot(), "deploy", "secrets", file);

    [Fact]
    public async Task The_image_runs_as_a_non_root_user_and_holds_no_secret_in_its_settings_history_or_layers()
    {
        using var engine = ContainerEngine.Connect();
        var image = await engine.GetAsync($"images/{Uri.EscapeDataString(WorkerContainer.Image)}/json");
        var config = image.GetProperty("Config");
        Assert.Equal("app", config.GetProperty("User").GetString());
        var environment = config.GetProperty("Env").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.DoesNotContain(environment, e => e.StartsWith("ConnectionStrings", StringComparison.OrdinalIgnoreCase)
            || e.Contains("password", StringComparison.OrdinalIgnoreCase));
        // Podman 4's Docker API leaves the health check out of an image's Config; its own API has it.
        var healthCheck = config.TryGetProperty("Healthcheck", out var declared) ? declared
            : (await engine.GetAsync($"v4.0.0/libpod/images/{Uri.EscapeDataString(WorkerContainer.Image)}/json")).GetProperty("Healthcheck");
        Assert.Equal(["CMD", "dotnet", "Worker.dll", "health"], healthCheck.GetProperty("Test").EnumerateArray().Select(e => e.GetString()));

        // The values of the compose secrets: the password, and each connection string whole.
        var secrets = new[] { "postgres-password", "worker-postgres", "worker-rabbitmq", "publisher-rabbitmq" }
            .Select(file => File.ReadAllText(Secrets(file)).Trim()).ToList();
        var history = (await engine.GetAsync($"images/{Uri.EscapeDataString(WorkerContainer.Image)}/history")).EnumerateArray()
            .Select(step => step.GetProperty("CreatedBy").GetString() ?? "").ToList();
        Assert.DoesNotContain(history, step => secrets.Any(step.Contains) || step.Contains("ConnectionStrings__"));

        // Every file of every layer, as `docker save` hands the image over (into a file: layers are read by seeking).
        var (files, bytes, found) = (0, 0L, new List<string>());
        var patterns = secrets.Select(Encoding.UTF8.GetBytes).ToList();
        var savedFile = Path.GetTempFileName();
        try
        {
            await using (var saving = File.Create(savedFile))
            await using (var saved = await engine.GetStreamAsync($"images/{Uri.EscapeDataString(WorkerContainer.Image)}/get"))
                await saved.CopyToAsync(saving);
            await using var archive = File.OpenRead(savedFile);
            var outer = new TarReader(archive);
            while (await outer.GetNextEntryAsync() is { DataStream: { } layer } entry)
            {
                if (!IsLayer(layer, out var gzip)) continue;
                var inner = new TarReader(gzip ? new GZipStream(layer, CompressionMode.Decompress, leaveOpen: true) : layer, leaveOpen: true);
                while (await inner.GetNextEntryAsync() is { } file)
                {
                    if (file.Name.Contains("ConnectionStrings__") || file.Name.Contains("deploy/secrets") || file.Name.Contains(".git/"))
                        found.Add($"{entry.Name}: {file.Name}");
                    if (file.DataStream is null) continue;
                    using var content = new MemoryStream();
                    await file.DataStream.CopyToAsync(content);
                    var span = content.GetBuffer().AsSpan(0, (int)content.Length);
                    (files, bytes) = (files + 1, bytes + span.Length);
                    foreach (var pattern in patterns)
                    {
                        if (span.IndexOf(pattern) >= 0) found.Add($"{entry.Name}: {file.Name} holds {Encoding.UTF8.GetString(pattern)}");
                    }
                }
            }
        }
        finally
        {
            File.Delete(savedFile);
        }
        Output.WriteLine($"image {WorkerContainer.Image}: {image.GetProperty("Size").GetInt64() / 1e6:F0} MB, " +
            $"{history.Count} steps; {files} files ({bytes / 1e6:F0} MB) read in its layers");
        Assert.True(files > 100, $"only {files} files were read from the saved image");
        Assert.Empty(found);
    }

    [Fact]
    public async Task docker_stop_mid_stream_drains_the_commands_in_hand_and_exits_within_the_grace_period_losing_and_repeating_nothing()
    {
        var stream = new MixedCommandStream(Count, run: "image-stop");
        await Fixture.ResetAsync(stream);
        var worker = await WorkerContainer.StartAsync(Fixture.Services.RabbitMq, Fixture.Services.Postgres);
        try
        {
            Output.WriteLine($"ready {worker.TimeToReady.TotalSeconds:F1} s after the container's start");
            // The worker itself, process 1 of the container, runs as the image's user.
            var status = await worker.ExecAsync("cat", "/proc/1/status");
            var uids = status.Stdout.Split('\n').Single(line => line.StartsWith("Uid:"))["Uid:".Length..]
                .Split('\t', StringSplitOptions.RemoveEmptyEntries);
            Assert.All(uids, uid => Assert.Equal("1654", uid));

            await PublishAsync(stream);
            while (Fixture.Results.CountMissing(stream.Commands.Select(c => c.CorrelationId), 1) > Count * 2 / 3) await Task.Delay(20);
            var answeredBefore = await worker.CommandsAnsweredAsync();
            var took = await worker.StopAsync(StopGrace);
            var log = await worker.OutputAsync();
            Output.WriteLine($"docker stop after {answeredBefore} answers took {took.TotalSeconds:F1} s; the worker's last words:\n" +
                string.Join('\n', log.TrimEnd().Split('\n').TakeLast(8)));
            // Exited by itself, cleanly: not the SIGKILL at the end of the grace period (137).
            Assert.Equal(0, await worker.ExitCodeAsync());
            Assert.True(took < StopGrace, $"docker stop took {took}, the whole grace period");
            Assert.DoesNotContain("Unhandled exception", log);
            // Npgsql asks for no GSS encryption, whose library the image (as Microsoft's) does not have.
            Assert.DoesNotContain("libgssapi", log);
            await worker.DisposeAsync();

            // What the stopped worker had not taken waits in the queues for the next one.
            worker = await WorkerContainer.StartAsync(Fixture.Services.RabbitMq, Fixture.Services.Postgres);
            await WaitForResultsAsync(stream, 1, TimeSpan.FromMinutes(3));
            await AssertGuaranteesAsync(stream, 1, "docker stop of the worker's container mid-stream");
        }
        finally
        {
            await worker.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_images_health_check_command_says_healthy_when_the_worker_is_ready_and_not_when_it_cannot_be_asked()
    {
        await using var worker = await WorkerContainer.StartAsync(Fixture.Services.RabbitMq, Fixture.Services.Postgres);
        Output.WriteLine($"ready {worker.TimeToReady.TotalSeconds:F1} s after the container's start");

        var ready = await worker.ExecAsync("dotnet", "Worker.dll", "health");
        Output.WriteLine(ready.Stdout + ready.Stderr);
        Assert.Equal(0, ready.ExitCode);
        Assert.StartsWith("200 ", ready.Stdout);
        // The same command where nothing answers (a worker still starting, or gone): not healthy.
        var closed = LocalServices.FreePort();
        var away = await worker.ExecAsync("sh", "-c", $"Health__Urls=http://127.0.0.1:{closed} exec dotnet Worker.dll health");
        Output.WriteLine(away.Stdout + away.Stderr);
        Assert.Equal(1, away.ExitCode);
        Assert.StartsWith("not reachable", away.Stdout);

        // The image's own HEALTHCHECK, run by the engine as its timer would (podman's API), or by Docker's itself.
        using var engine = ContainerEngine.Connect();
        string health;
        if (await engine.IsPodmanAsync()) health = await engine.RunHealthCheckAsync(worker.Id);
        else
        {
            for (var waited = System.Diagnostics.Stopwatch.StartNew(); ; await Task.Delay(500))
            {
                health = (await engine.GetAsync($"containers/{worker.Id}/json")).GetProperty("State").GetProperty("Health").GetProperty("Status").GetString()!;
                if (health != "starting" || waited.Elapsed > TimeSpan.FromSeconds(60)) break;
            }
        }
        Assert.Equal("healthy", health);
    }

    /// <summary>Whether an entry of a saved image is a layer: a tar (docker-archive's layer.tar, an OCI blob), compressed or not.</summary>
    static bool IsLayer(Stream data, out bool gzip)
    {
        var block = new byte[512];
        var read = data.ReadAtLeast(block, block.Length, throwOnEndOfStream: false);
        data.Position = 0;
        gzip = read >= 2 && block[0] == 0x1f && block[1] == 0x8b;
        // A tar's first header says "ustar" at offset 257.
        return gzip || read == 512 && Encoding.ASCII.GetString(block, 257, 5) == "ustar";
    }
}
