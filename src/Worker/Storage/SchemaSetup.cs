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
    IEnumerable<SchemaObjectsAfterMarten> afterMarten, InboxPartitions inbox, IOptions<StartupOptions> options,
    IOptions<StorageOptions> storage, ILogger<SchemaSetup> logger)
    : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) =>
        EnsureAsync(storage.Value.SchemaAtStart == SchemaAtStart.Migrate, cancellationToken);

    /// <summary>Migrates the schema, or with <paramref name="migrate"/> false only checks that it is up to date.</summary>
    public async Task EnsureAsync(bool migrate, CancellationToken cancellationToken)
    {
        var until = DateTime.UtcNow + options.Value.WaitForServices;
        while (true)
        {
            try
            {
                if (!migrate)
                {
                    await VerifyAsync(cancellationToken);
                    return;
                }
                await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
                logger.LogInformation("Schema {Schema} is up to date (created or migrated by Marten)",
                    store.Options.DatabaseSchemaName);
                await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
                if (await AfterMartenAsync(connection, cancellationToken) is { } migration)
                    await new PostgresqlMigrator().ApplyAllAsync(connection, migration, AutoCreate.CreateOrUpdate,
                        new LoggedMigration(logger), cancellationToken);
                // The inbox's partitions for the retention window exist before the first command is taken, and before
                // an earlier release's inbox is carried over into them.
                await inbox.RestrictAsync(connection, cancellationToken);
                await inbox.MaintainAsync(storage.Value.InboxRetention, cancellationToken);
                await inbox.CarryOverEarlierInboxAsync(connection, storage.Value.InboxRetention, cancellationToken);
                return;
            }
            catch (Exception e) when (BrokerConnection.IsTlsRefusal(e))
            {
                var server = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
                var why = await CertificateCheck.PostgresRefusalAsync(server.Host!, server.Port, server.RootCertificate, cancellationToken)
                    ?? e.GetBaseException().Message;
                throw new StartupFailure($"PostgreSQL at {server.Host}:{server.Port} was refused over TLS: {why}; check the " +
                    "Host and Root Certificate of ConnectionStrings__Postgres", StartupFailure.TlsRefused, e);
            }
            catch (Exception e) when (Npgsql(e) is PostgresException { SqlState: PostgresErrorCodes.InsufficientPrivilege } denied)
            {
                throw new StartupFailure($"PostgreSQL refused to change the schema ({denied.MessageText}); run `worker schema` " +
                    "as the schema's owner role and set Storage__SchemaAtStart=Verify for this role (docs/security.md)",
                    StartupFailure.NoPermission, e);
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

    /// <summary>Ends the start when Marten's tables or the features' own objects differ from what this version needs.</summary>
    async Task VerifyAsync(CancellationToken cancellationToken)
    {
        var behind = new List<string>();
        try
        {
            await store.Storage.Database.AssertDatabaseMatchesConfigurationAsync(cancellationToken);
        }
        catch (Weasel.Core.Migrations.DatabaseValidationException e)
        {
            behind.Add(e.Message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)[0]);
        }
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (await AfterMartenAsync(connection, cancellationToken) is { } migration)
            behind.Add(string.Join(", ", migration.Deltas.Where(d => d.Difference != SchemaPatchDifference.None)
                .Select(d => d.SchemaObject.Identifier.QualifiedName)));
        if (behind.Count > 0)
            throw new StartupFailure($"Schema {store.Options.DatabaseSchemaName} is behind this version of the worker " +
                $"({string.Join("; ", behind)}); run `worker schema` as the schema's owner role first",
                StartupFailure.BadSetting);
        logger.LogInformation("Schema {Schema} is up to date (verified)", store.Options.DatabaseSchemaName);
    }

    async Task<SchemaMigration?> AfterMartenAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var objects = afterMarten.SelectMany(extra => extra.Objects((StoreOptions)store.Options)).ToArray();
        if (objects.Length == 0) return null;
        var migration = await SchemaMigration.DetermineAsync(connection, cancellationToken, objects);
        return migration.Difference == SchemaPatchDifference.None ? null : migration;
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
