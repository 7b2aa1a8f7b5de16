using Worker;
using Worker.DemoData;
using Worker.Health;
using Worker.Redrive;
using Worker.Startup;

// `import FILE [--reset]` loads demo data and exits; `schema` creates or migrates the database schema and exits;
// `health` asks a running worker whether it is ready; `redrive [options]` sends failed commands back from the error
// queues (docs/operations.md); without arguments the worker consumes until stopped.
var import = args is ["import", _, ..];
var schemaOnly = args is ["schema"];
var redrive = args is ["redrive", ..];
var restartingHost = new RestartingHost();
var configuration = new ConfigurationBuilder().AddJsonFile("appsettings.json", optional: true)
    .AddEnvironmentVariables().Build();
if (args is ["health", ..])
{
    return await HealthSetup.ProbeAsync(configuration["Health:Urls"] ?? new HealthOptions().Urls);
}

IHost Build()
{
    var builder = Host.CreateApplicationBuilder(import || schemaOnly || redrive ? [] : args);
    builder.Configuration.AddSecretFiles();
    builder.AddUpdateWorker(restartingHost);
    return builder.Build();
}

try
{
    if (schemaOnly)
    {
        using var host = Build();
        await host.Services.GetRequiredService<SchemaSetup>().EnsureAsync(migrate: true, CancellationToken.None);
        return 0;
    }
    if (redrive)
    {
        RedriveOptions options;
        try
        {
            options = RedriveOptions.Parse(args[1..]);
        }
        catch (ArgumentException e)
        {
            throw new StartupFailure($"redrive: {e.Message}", StartupFailure.BadSetting, e);
        }
        using var host = Build();
        return await ActivatorUtilities.CreateInstance<ErrorQueueRedrive>(host.Services)
            .RunAsync(options, Console.Out, CancellationToken.None);
    }
    if (import)
    {
        using var host = Build();
        await host.Services.GetRequiredService<DemoDataImport>().ImportAsync(args[1], overwrite: args.Contains("--reset"),
            CancellationToken.None);
        return 0;
    }

    // Non-zero only when fresh starts in-process kept failing and the supervisor should start the process again.
    return await restartingHost.RunAsync(Build);
}
catch (Exception e)
{
    return StartupFailure.Report(e, configuration, "worker", StorageSetup.DatabaseFailure);
}
