using MassTransit;
using MassTransit.UsageTracking;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Bench;
using Worker.Messaging;

namespace Worker.IntegrationTests.Privacy;

/// <summary>
/// No bus of the project may report usage to MassTransit's vendor, even when the environment asks for it. These
/// tests build the buses' services without starting them: the tracker decides at build time whether to report.
/// </summary>
[Collection(Name)]
public sealed class UsageTelemetryTests
{
    // Tests here change a process-wide environment variable: they run one at a time.
    public const string Name = "usage telemetry";
    const string Variable = "MASSTRANSIT_USAGE_TELEMETRY";

    [Fact]
    public async Task The_environment_can_switch_MassTransits_own_tracker_on_which_is_why_it_is_replaced()
    {
        // The control: MassTransit's own switch, undone by the variable. It also proves that the assertions below look
        // at a tracker that would really report.
        var services = new ServiceCollection();
        services.AddMassTransit(bus =>
        {
            bus.DisableUsageTelemetry();
            bus.UsingInMemory();
        });
        // MassTransit's tracker can only be disposed of asynchronously.
        await using var provider = WithTelemetryAskedFor(services.BuildServiceProvider);
        var tracker = Assert.IsType<UsageTracker>(provider.GetRequiredService<IUsageTracker>());
        Assert.True(tracker.Enabled);
    }

    [Fact]
    public void The_worker_bus_never_reports_usage_even_when_the_environment_asks_for_it()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:RabbitMq"] = "amqp://guest:guest@127.0.0.1:1/",
            ["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Port=1;Database=worker;Username=postgres",
        });
        builder.AddUpdateWorker();
        using var host = WithTelemetryAskedFor(builder.Build);
        AssertRefused(host.Services);
    }

    [Fact]
    public void The_bench_baseline_bus_never_reports_usage_even_when_the_environment_asks_for_it()
    {
        var services = BaselinePipeline.AddBus(new ServiceCollection(), "amqp://guest:guest@127.0.0.1:1/", "bench-");
        using var provider = WithTelemetryAskedFor(services.BuildServiceProvider);
        AssertRefused(provider);
    }

    [Fact]
    public void Every_AddMassTransit_in_the_sources_refuses_usage_telemetry()
    {
        // Buses made with Bus.Factory get no usage tracker from MassTransit at all; only AddMassTransit adds one.
        var sources = Directory.EnumerateFiles(Path.Combine(Infrastructure.LocalServices.RepositoryRoot(), "src"), "*.cs",
                SearchOption.AllDirectories)
            .Where(path => !path.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .Select(path => (Path: path, Text: File.ReadAllText(path)))
            .Where(file => file.Text.Contains("AddMassTransit("))
            .ToList();
        Assert.NotEmpty(sources);
        Assert.All(sources, file => Assert.True(file.Text.Contains(".DisableUsageTelemetryForGood()"),
            $"{file.Path} builds a MassTransit bus without refusing usage telemetry"));
    }

    static void AssertRefused(IServiceProvider services)
    {
        Assert.IsType<UsageTelemetry.RefusedUsageTracker>(services.GetRequiredService<IUsageTracker>());
        Assert.False(services.GetRequiredService<Microsoft.Extensions.Options.IOptions<UsageTelemetryOptions>>().Value.Enabled);
    }

    static T WithTelemetryAskedFor<T>(Func<T> build)
    {
        var before = Environment.GetEnvironmentVariable(Variable);
        Environment.SetEnvironmentVariable(Variable, "true");
        try
        {
            var built = build();
            // The tracker reads the variable when it is made: make it now, while the variable is set.
            var services = built switch
            {
                IHost host => host.Services,
                IServiceProvider provider => provider,
                _ => throw new InvalidOperationException(),
            };
            services.GetRequiredService<IUsageTracker>();
            return built;
        }
        finally
        {
            Environment.SetEnvironmentVariable(Variable, before);
        }
    }
}
