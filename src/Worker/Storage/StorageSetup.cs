using JasperFx;
using JasperFx.Events;
using Marten;
using Microsoft.Extensions.Options;
using Npgsql;
using Weasel.Core;

namespace Worker.Storage;

public static class StorageSetup
{
    public const string DefaultConnectionString = "Host=127.0.0.1;Port=5432;Database=worker;Username=postgres";

    /// <summary>
    /// A database that does not answer, as a start-up failure: the demo import reaches the database without waiting
    /// for it.
    /// </summary>
    public static StartupFailure? DatabaseFailure(Exception exception) => exception is Npgsql.NpgsqlException database
        ? new StartupFailure($"PostgreSQL did not answer ({database.GetBaseException().Message}); check ConnectionStrings__Postgres",
            StartupFailure.ServiceUnavailable, database)
        : null;

    /// <summary>
    /// Marten on the worker's PostgreSQL. Every document type but the inbox is conjoined-tenanted (a <c>tenant_id</c>
    /// column, with <c>*DEFAULT*</c> for documents of no tenant), documents are System.Text.Json in camelCase, and event streams are
    /// keyed by strings. The features add their own document mappings with <c>ConfigureMarten</c>.
    /// </summary>
    public static IServiceCollection AddDocumentStorage(this IServiceCollection services, IConfiguration configuration,
        bool development)
    {
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var connectionString = Tuned(OperatorSettings.RequiredConnectionString(configuration, "Postgres",
            DefaultConnectionString, development));
        services.AddSingleton(_ =>
        {
            var dataSource = new NpgsqlDataSourceBuilder(connectionString)
            {
                // Npgsql names the pool in its metrics and traces by this name, or else by the connection string
                // (host, database, user, certificate paths): telemetry carries no connection details.
                Name = "worker",
            };
            // Statements are traced beneath the command they store; start-up, health checks and the inbox purge,
            // outside any command, would each make a trace of their own.
            dataSource.ConfigureTracing(tracing => tracing
                .ConfigureCommandFilter(_ => System.Diagnostics.Activity.Current is not null)
                .ConfigureBatchFilter(_ => System.Diagnostics.Activity.Current is not null)
                .ConfigureCommandEnrichmentCallback((activity, _) => WithoutConnectionDetails(activity))
                .ConfigureBatchEnrichmentCallback((activity, _) => WithoutConnectionDetails(activity)));
            return dataSource.Build();
        });
        services.AddSingleton(_ => new DatabaseProbe(connectionString));
        services.AddMarten(provider =>
            {
                var options = new StoreOptions();
                var storage = provider.GetRequiredService<IOptions<StorageOptions>>().Value;
                options.DatabaseSchemaName = storage.Schema;
                options.UseSystemTextJsonForSerialization(casing: Casing.CamelCase);
                options.Policies.AllDocumentsAreMultiTenanted();
                options.Events.StreamIdentity = StreamIdentity.AsString;
                // Appends in one statement, without first reading the stream's version: the account's own version check
                // already keeps two writers of one account apart.
                options.Events.AppendMode = EventAppendMode.Quick;
                // Created and migrated at start-up by SchemaSetup, before the first command is taken; or, under a role
                // that may not change the schema, only verified there and never touched afterwards.
                options.AutoCreateSchemaObjects = storage.SchemaAtStart == SchemaAtStart.Migrate ? AutoCreate.CreateOrUpdate : AutoCreate.None;
                InboxPartitions.Map(options);
                return options;
            })
            .UseNpgsqlDataSource()
            .UseLightweightSessions();
        // Marten logs every statement that fails, as an error with its SQL: a code already in use (an expected 422)
        // and a lost version race (re-run) among them, and once more each statement of the batch that could not run
        // after it. What actually fails a command is logged once by the worker with the command it belongs to; and
        // the schema migration's SQL (hundreds of lines on a new database) is summed up by SchemaSetup.
        services.Configure<LoggerFilterOptions>(filters => filters.AddFilter("Marten.IDocumentStore", LogLevel.Critical));
        services.AddWorkerMetrics();
        services.AddSingleton<CommandInbox>();
        services.AddSingleton<InboxPartitions>();
        services.AddSchemaObjectsAfterMarten(InboxPartitions.SchemaObjects);
        services.AddSingleton<CommandLanes>();
        services.AddSingleton(TimeProvider.System);
        // Registered before the bus so that the tables exist before the first command is taken.
        services.AddSingleton<SchemaSetup>();
        services.AddHostedService(provider => provider.GetRequiredService<SchemaSetup>());
        services.AddHostedService<InboxCleanup>();
        return services;
    }

    /// <summary>Which server and as whom are the operator's business, not every trace backend's.</summary>
    static void WithoutConnectionDetails(System.Diagnostics.Activity activity)
    {
        foreach (var tag in ConnectionTags) activity.SetTag(tag, null);
    }

    static readonly string[] ConnectionTags =
    [
        "db.connection_string", "db.user", "db.name", "db.namespace", "server.address", "server.port",
        "net.peer.name", "net.peer.ip", "net.peer.port", "net.transport", "network.peer.address", "network.peer.port",
    ];

    /// <summary>
    /// Schema objects of a feature that Marten's own migration cannot order after the tables they are on (a trigger
    /// on Marten's event table): applied with Weasel right after Marten's migration, at every start.
    /// </summary>
    public static IServiceCollection AddSchemaObjectsAfterMarten(this IServiceCollection services,
        Func<StoreOptions, IEnumerable<ISchemaObject>> objects) =>
        services.AddSingleton(new SchemaObjectsAfterMarten(objects));

    /// <summary>
    /// Every command runs the same few statements, so they are prepared once per connection instead of parsed and
    /// planned each time, and a pooled connection is handed back without a reset (the worker changes no session
    /// state). Settings given in the connection string win.
    /// </summary>
    public static readonly TimeSpan OrphanTransactionAfter = TimeSpan.FromSeconds(30);

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
        // A connection that a silent network cut off leaves its session behind on the server, inside a transaction and
        // holding its rows' locks, until the server notices; the retry on a new connection would wait on those locks.
        // The worker's transactions wait on nothing but the database, so one idle this long is such an orphan.
        // An Options key of the operator's own wins, an empty one included (a pooler that refuses startup options).
        // Npgsql 10 asks for GSS encryption first by default, which loads Kerberos' library on every new connection;
        // container images (Microsoft's .NET images among them) have none, and each attempt fails with a line on
        // stderr and an exception. The worker signs in with a password or a certificate: no GSS unless asked for.
        if (!connectionString.Contains("GSS Encryption", StringComparison.OrdinalIgnoreCase)) builder.GssEncryptionMode = GssEncryptionMode.Disable;
        if (!connectionString.Contains("Options", StringComparison.OrdinalIgnoreCase)) builder.Options = $"-c idle_in_transaction_session_timeout={OrphanTransactionAfter.TotalMilliseconds:0}";
        return builder.ConnectionString;
    }
}

/// <summary>See <see cref="StorageSetup.AddSchemaObjectsAfterMarten"/>.</summary>
public sealed record SchemaObjectsAfterMarten(Func<StoreOptions, IEnumerable<ISchemaObject>> Objects);
