using Microsoft.Extensions.Options;
using Npgsql;
using Worker.Startup;

namespace Worker.Storage;

public static class StorageSetup
{
    public const string DefaultConnectionString = "Host=127.0.0.1;Port=5432;Database=worker;Username=postgres";

    public static IServiceCollection AddDocumentStorage(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var connectionString = Tuned(configuration.GetConnectionString("Postgres") ?? DefaultConnectionString);
        services.AddSingleton(_ => NpgsqlDataSource.Create(connectionString));
        services.AddSingleton<DocumentStore>();
        services.AddSingleton<CommandInbox>();
        services.AddSingleton<CommandLanes>();
        services.AddSingleton<Schema>();
        services.AddSingleton(TimeProvider.System);
        // Registered before the bus so that the tables exist before the first command is taken.
        services.AddHostedService<SchemaSetup>();
        services.AddHostedService<InboxCleanup>();
        return services;
    }

    /// <summary>
    /// Every command runs the same few statements, so they are prepared once per connection instead of parsed and
    /// planned each time, and a pooled connection is handed back without a reset (the worker changes no session
    /// state). Settings given in the connection string win.
    /// </summary>
    static string Tuned(string connectionString)
    {
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException e)
        {
            throw new StartupFailure($"ConnectionStrings:Postgres is not a PostgreSQL connection string ({e.Message}); " +
                "set ConnectionStrings__Postgres, e.g. Host=127.0.0.1;Port=5432;Database=worker;Username=postgres",
                StartupFailure.BadSetting, e);
        }
        if (!connectionString.Contains("Auto Prepare", StringComparison.OrdinalIgnoreCase)) builder.MaxAutoPrepare = 64;
        if (!connectionString.Contains("Reset On Close", StringComparison.OrdinalIgnoreCase)) builder.NoResetOnClose = true;
        return builder.ConnectionString;
    }
}

/// <summary>
/// Creates the schema at start-up, waiting up to Startup:WaitForServices for PostgreSQL if it is not up yet (as under
/// docker compose); a database that does not answer by then, or refuses the worker, ends the start in one line.
/// </summary>
public sealed class SchemaSetup(Schema schema, NpgsqlDataSource dataSource, IOptions<StartupOptions> options,
    ILogger<SchemaSetup> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var until = DateTime.UtcNow + options.Value.WaitForServices;
        while (true)
        {
            try
            {
                await schema.EnsureAsync(cancellationToken);
                return;
            }
            catch (NpgsqlException e) when (e.IsTransient && DateTime.UtcNow < until)
            {
                logger.LogWarning("PostgreSQL is not reachable yet ({Message}); trying again", e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
            catch (NpgsqlException e)
            {
                var what = e.IsTransient
                    ? $"did not answer within {options.Value.WaitForServices.TotalSeconds:F0} s ({e.Message})"
                    : $"refused the worker ({e.Message})";
                var server = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
                throw new StartupFailure($"PostgreSQL at {server.Host}:{server.Port}, database {server.Database}, {what}; " +
                    "check ConnectionStrings__Postgres", StartupFailure.ServiceUnavailable, e);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
