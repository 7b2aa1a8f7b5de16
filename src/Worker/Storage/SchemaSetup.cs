using JasperFx;
using Marten;
using Microsoft.Extensions.Options;
using Npgsql;
using Weasel.Core;
using Weasel.Postgresql;
using Worker.Startup;

namespace Worker.Storage;

/// <summary>
/// Has Marten create or migrate the schema at start-up (tables, indexes, the event store, and what the features add),
/// waiting up to Startup:WaitForServices for PostgreSQL if it is not up yet (as under docker compose); a database that
/// does not answer by then, or refuses the worker, ends the start in one line.
/// </summary>
public sealed class SchemaSetup(IDocumentStore store, NpgsqlDataSource dataSource,
    IEnumerable<SchemaObjectsAfterMarten> afterMarten, IOptions<StartupOptions> options, ILogger<SchemaSetup> logger)
    : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => EnsureAsync(cancellationToken);

    public async Task EnsureAsync(CancellationToken cancellationToken)
    {
        var until = DateTime.UtcNow + options.Value.WaitForServices;
        while (true)
        {
            try
            {
                await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
                logger.LogInformation("Schema {Schema} is up to date (created or migrated by Marten)",
                    store.Options.DatabaseSchemaName);
                var objects = afterMarten.SelectMany(extra => extra.Objects((StoreOptions)store.Options)).ToArray();
                if (objects.Length == 0) return;
                await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
                var migration = await SchemaMigration.DetermineAsync(connection, cancellationToken, objects);
                if (migration.Difference == SchemaPatchDifference.None) return;
                await new PostgresqlMigrator().ApplyAllAsync(connection, migration, AutoCreate.CreateOrUpdate,
                    new LoggedMigration(logger), cancellationToken);
                return;
            }
            catch (Exception e) when (Npgsql(e) is { IsTransient: true } && DateTime.UtcNow < until)
            {
                logger.LogWarning("PostgreSQL is not reachable yet ({Message}); trying again", Npgsql(e)!.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
            catch (Exception e) when (Npgsql(e) is { } failure)
            {
                var what = failure.IsTransient
                    ? $"did not answer within {options.Value.WaitForServices.TotalSeconds:F0} s ({failure.Message})"
                    : $"refused the worker ({failure.Message})";
                var server = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
                throw new StartupFailure($"PostgreSQL at {server.Host}:{server.Port}, database {server.Database}, {what}; " +
                    "check ConnectionStrings__Postgres", StartupFailure.ServiceUnavailable, e);
            }
        }
    }

    // Marten may wrap the driver's exception.
    static NpgsqlException? Npgsql(Exception? e) => e switch
    {
        null => null,
        NpgsqlException npgsql => npgsql,
        _ => Npgsql(e.InnerException),
    };

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    // Weasel writes what it changes to the console unless given a logger.
    sealed class LoggedMigration(ILogger logger) : Weasel.Core.Migrations.IMigrationLogger
    {
        public void SchemaChange(string sql) => logger.LogInformation("Schema change: {Sql}", sql);

        public void OnFailure(System.Data.Common.DbCommand command, Exception ex) =>
            logger.LogError(ex, "Schema change failed: {Sql}", command.CommandText);

        public void DestructiveChange(string description) => logger.LogWarning("Destructive schema change: {Description}", description);

        public void WithheldDrop(string description) => logger.LogInformation("Schema drop withheld: {Description}", description);
    }
}
