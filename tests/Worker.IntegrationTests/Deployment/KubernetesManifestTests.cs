using System.Diagnostics;
using System.Text.Json;
using Hosting;
using Npgsql;
using Worker.Health;
using Worker.IntegrationTests.Infrastructure;
using Worker.Messaging;

namespace Worker.IntegrationTests.Deployment;

/// <summary>
/// deploy/kubernetes, checked as far as this machine allows (no cluster runs here): every manifest against the
/// Kubernetes API's own schemas (tools/kubernetes: kubernetes-models, whose models are generated from the Kubernetes
/// OpenAPI specification), and the worker's own facts in them: probe paths and port, secret file names, the drain
/// time, the memory budget, the two database roles, the security context.
/// </summary>
public sealed class KubernetesManifestTests
{
    static readonly string Folder = Path.Combine(LocalServices.RepositoryRoot(), "deploy", "kubernetes");

    [Fact]
    public async Task Every_manifest_is_valid_against_the_Kubernetes_API_schema()
    {
        var manifests = await CheckAsync(Folder);
        Assert.Equal(["Deployment", "Job", "PodDisruptionBudget", "Secret", "Secret", "Service"],
            manifests.Select(m => m.GetProperty("kind").GetString()!).Order().ToArray());
    }

    [Fact]
    public async Task The_validator_refuses_a_manifest_that_breaks_the_schema()
    {
        var broken = Directory.CreateTempSubdirectory("kubernetes-").FullName;
        try
        {
            foreach (var file in Directory.GetFiles(Folder, "*.yaml"))
                File.Copy(file, Path.Combine(broken, Path.GetFileName(file)));
            var deployment = Path.Combine(broken, "deployment.yaml");
            await File.WriteAllTextAsync(deployment, (await File.ReadAllTextAsync(deployment))
                .Replace("containerPort: 8081", "containerPort: eighty-eighty-one"));

            var (exitCode, _, errors) = await RunCheckerAsync(broken);

            Assert.NotEqual(0, exitCode);
            Assert.Contains("containerPort", errors);
        }
        finally
        {
            Directory.Delete(broken, recursive: true);
        }
    }

    [Fact]
    public async Task The_deployment_probes_the_workers_own_health_paths_on_the_port_it_listens_on()
    {
        var container = Container(Single(await CheckAsync(Folder), "Deployment"));

        var port = container.GetProperty("ports").EnumerateArray().Single();
        Assert.Equal("metrics", port.GetProperty("name").GetString());
        var listens = new Uri(Env(container, "Health__Urls")).Port;
        Assert.Equal(listens, port.GetProperty("containerPort").GetInt32());
        foreach (var (probe, path) in new[]
                 {
                     ("startupProbe", HealthEndpoint.LivePath), ("livenessProbe", HealthEndpoint.LivePath),
                     ("readinessProbe", HealthEndpoint.ReadyPath),
                 })
        {
            var get = container.GetProperty(probe).GetProperty("httpGet");
            Assert.Equal(path, get.GetProperty("path").GetString());
            Assert.Equal("metrics", get.GetProperty("port").GetString());
        }
        // The startup probe outlasts the worker's wait for its broker and database at start.
        var startup = container.GetProperty("startupProbe");
        Assert.True(startup.GetProperty("periodSeconds").GetInt32() * startup.GetProperty("failureThreshold").GetInt32()
            > new Worker.Startup.StartupOptions().WaitForServices.TotalSeconds);
    }

    [Fact]
    public async Task Connection_strings_are_secret_files_named_by_the_settings_the_worker_reads_and_each_role_has_its_own()
    {
        var manifests = await CheckAsync(Folder);
        var secrets = manifests.Where(m => m.GetProperty("kind").GetString() == "Secret")
            .ToDictionary(m => m.GetProperty("metadata").GetProperty("name").GetString()!, m => m.GetProperty("stringData"));

        foreach (var (kind, role) in new[] { ("Deployment", "worker_app"), ("Job", "worker_owner") })
        {
            var spec = PodSpec(Single(manifests, kind));
            var container = spec.GetProperty("containers")[0];
            var mount = container.GetProperty("volumeMounts").EnumerateArray()
                .Single(m => m.GetProperty("mountPath").GetString() == OperatorSettings.DefaultSecretsDirectory);
            var volume = spec.GetProperty("volumes").EnumerateArray()
                .Single(v => v.GetProperty("name").GetString() == mount.GetProperty("name").GetString());
            var secret = secrets[volume.GetProperty("secret").GetProperty("secretName").GetString()!];
            // One file per setting, named as the setting's environment variable (ConnectionStrings__Postgres).
            var keys = secret.EnumerateObject().Select(p => p.Name).ToList();
            Assert.All(keys, key => Assert.Contains(key, new[] { "ConnectionStrings__RabbitMq", "ConnectionStrings__Postgres" }));
            Assert.Equal(role, new NpgsqlConnectionStringBuilder(secret.GetProperty("ConnectionStrings__Postgres").GetString()).Username);
            // Readable by the group the pod's fsGroup gives the files (the process runs as the image's user).
            Assert.Equal(Convert.ToInt32("440", 8), volume.GetProperty("secret").GetProperty("defaultMode").GetInt32());
            Assert.Equal(spec.GetProperty("securityContext").GetProperty("runAsGroup").GetInt32(),
                spec.GetProperty("securityContext").GetProperty("fsGroup").GetInt32());
        }
        var worker = Container(Single(manifests, "Deployment"));
        Assert.True(secrets["update-worker-connections"].TryGetProperty("ConnectionStrings__RabbitMq", out _));
        // The schema is the Job's to change; the Deployment's pods only verify it, as the runtime role.
        Assert.Equal("Verify", Env(worker, "Storage__SchemaAtStart"));
        Assert.Equal(["schema"], Container(Single(manifests, "Job")).GetProperty("args").EnumerateArray().Select(a => a.GetString()!).ToArray());
    }

    [Fact]
    public async Task The_pod_outlasts_the_drain_fits_the_memory_budget_and_runs_unprivileged()
    {
        var manifests = await CheckAsync(Folder);
        var deployment = Single(manifests, "Deployment");
        var spec = PodSpec(deployment);

        Assert.True(spec.GetProperty("terminationGracePeriodSeconds").GetInt32() > MessagingSetup.StopTimeout.TotalSeconds);
        // docs/security.md: about 150 MiB idle, and four times prefetch x 1 MiB message bodies above it.
        var budget = 150 + 4 * new MessagingOptions().PrefetchCount;
        Assert.True(Mebibytes(Container(deployment).GetProperty("resources").GetProperty("limits").GetProperty("memory").GetString()!) >= budget);

        foreach (var pod in new[] { spec, PodSpec(Single(manifests, "Job")) })
        {
            Assert.True(pod.GetProperty("securityContext").GetProperty("runAsNonRoot").GetBoolean());
            Assert.NotEqual(0, pod.GetProperty("securityContext").GetProperty("runAsUser").GetInt32());
            Assert.False(pod.GetProperty("automountServiceAccountToken").GetBoolean());
            var security = pod.GetProperty("containers")[0].GetProperty("securityContext");
            Assert.False(security.GetProperty("allowPrivilegeEscalation").GetBoolean());
            Assert.True(security.GetProperty("readOnlyRootFilesystem").GetBoolean());
            Assert.Equal(["ALL"], security.GetProperty("capabilities").GetProperty("drop").EnumerateArray().Select(c => c.GetString()!).ToArray());
        }

        // The disruption budget and the metrics service select the Deployment's pods.
        var labels = deployment.GetProperty("spec").GetProperty("template").GetProperty("metadata").GetProperty("labels");
        foreach (var selector in new[]
                 {
                     Single(manifests, "PodDisruptionBudget").GetProperty("spec").GetProperty("selector").GetProperty("matchLabels"),
                     Single(manifests, "Service").GetProperty("spec").GetProperty("selector"),
                 })
            Assert.All(selector.EnumerateObject(), label => Assert.Equal(label.Value.GetString(), labels.GetProperty(label.Name).GetString()));
        Assert.Equal("metrics", Single(manifests, "Service").GetProperty("spec").GetProperty("ports")[0].GetProperty("targetPort").GetString());
    }

    static JsonElement Single(IEnumerable<JsonElement> manifests, string kind) =>
        manifests.Single(m => m.GetProperty("kind").GetString() == kind);

    static JsonElement PodSpec(JsonElement workload) =>
        workload.GetProperty("spec").GetProperty("template").GetProperty("spec");

    static JsonElement Container(JsonElement workload) => PodSpec(workload).GetProperty("containers")[0];

    static string Env(JsonElement container, string name) => container.GetProperty("env").EnumerateArray()
        .Single(e => e.GetProperty("name").GetString() == name).GetProperty("value").GetString()!;

    static int Mebibytes(string quantity) => quantity.EndsWith("Gi") ? int.Parse(quantity[..^2]) * 1024
        : quantity.EndsWith("Mi") ? int.Parse(quantity[..^2])
        : throw new FormatException($"a memory quantity in Mi or Gi, not {quantity}");

    static async Task<List<JsonElement>> CheckAsync(string folder)
    {
        var (exitCode, output, errors) = await RunCheckerAsync(folder);
        Assert.True(exitCode == 0, $"the Kubernetes check failed:\n{errors}");
        return JsonDocument.Parse(output).RootElement.EnumerateArray().Select(m => m.Clone()).ToList();
    }

    static async Task<(int ExitCode, string Output, string Errors)> RunCheckerAsync(string folder)
    {
        var start = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
            WorkingDirectory = Path.Combine(LocalServices.RepositoryRoot(), "tools", "kubernetes"),
        };
        start.ArgumentList.Add("check.mjs");
        start.ArgumentList.Add(folder);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output, await errors);
    }
}
