using Worker;
using Worker.DemoData;

// `import FILE [--reset]` loads demo data and exits; without arguments the worker consumes until stopped.
var import = args is ["import", _, ..];
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
return 0;
