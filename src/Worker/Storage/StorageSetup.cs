using Npgsql;

namespace Worker.Storage;

public static class StorageSetup
{
    public const string DefaultConnectionString = "Host=127.0.0.1;Port=5432;Database=worker;Username=postgres";

    public static IServiceCollection AddDocumentStorage(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section);
        var connectionString = configuration.GetConnectionString("Postgres") ?? DefaultConnectionString;
        services.AddSingleton(_ => NpgsqlDataSource.Create(Tuned(connectionString)));
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
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!connectionString.Contains("Auto Prepare", StringComparison.OrdinalIgnoreCase)) builder.MaxAutoPrepare = 64;
        if (!connectionString.Contains("Reset On Close", StringComparison.OrdinalIgnoreCase)) builder.NoResetOnClose = true;
        return builder.ConnectionString;
    }
}

/// <summary>Creates the schema at start-up, waiting for PostgreSQL if it is not up yet (as under docker compose).</summary>
public sealed class SchemaSetup(Schema schema, ILogger<SchemaSetup> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await schema.EnsureAsync(cancellationToken);
                return;
            }
            catch (NpgsqlException e) when (e.IsTransient && attempt < 60)
            {
                logger.LogWarning("PostgreSQL is not reachable yet ({Message}); trying again", e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
