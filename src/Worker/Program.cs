using Worker;
using Worker.DemoData;
using Worker.Health;

// `import FILE [--reset]` loads demo data and exits; `health` asks a running worker whether it is ready; without
// arguments the worker consumes until stopped.
var import = args is ["import", _, ..];
if (args is ["health", ..])
{
    var configuration = new ConfigurationBuilder().AddJsonFile("appsettings.json", optional: true)
        .AddEnvironmentVariables().Build();
    return await HealthSetup.ProbeAsync(configuration["Health:Urls"] ?? new HealthOptions().Urls);
}

var builder = Host.CreateApplicationBuilder(import ? [] : args);
builder.AddUpdateWorker();
using var host = builder.Build();

if (import)
{
    await host.Services.GetRequiredService<DemoDataImport>().ImportAsync(args[1], overwrite: args.Contains("--reset"),
        CancellationToken.None);
    return 0;
}

await host.RunAsync();
// Non-zero when the worker stopped itself to be started afresh (see BusWatchdog).
return Environment.ExitCode;
