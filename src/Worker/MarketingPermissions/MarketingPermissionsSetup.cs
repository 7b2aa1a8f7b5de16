using Contracts.MarketingPermissions;
using Marten;
using MassTransit;
using Weasel.Core;
using Weasel.Postgresql;
using Weasel.Postgresql.Functions;
using Weasel.Postgresql.Triggers;
using Worker.DemoData;

namespace Worker.MarketingPermissions;

public static class MarketingPermissionsSetup
{
    public static IServiceCollection AddMarketingPermissions(this IServiceCollection services)
    {
        services.ConfigureMarten(Map);
        services.AddSchemaObjectsAfterMarten(HistoryGuard);
        services.AddSingleton<IDemoDataSection, MarketingPermissionsDemoData>();
        return services;
    }

    /// <summary>
    /// Accounts are written back only at the version they were read (optimistic concurrency); permission definitions
    /// are plain documents; the consent history is Marten's event store, one stream per account.
    /// </summary>
    public static void Map(StoreOptions options)
    {
        options.Schema.For<Account>()
            .UseOptimisticConcurrency(true)
            .Metadata(m => m.Version.MapTo(account => account.Version));
        options.Schema.For<MarketingPermission>();
        options.Events.AddEventType<ConsentChanged>();
    }

    /// <summary>
    /// A consent history must survive a bug or a careless hand: PostgreSQL itself refuses to change or delete an event.
    /// Marten only ever inserts events (and may mark a whole stream archived, which stays allowed). Applied by Weasel,
    /// Marten's schema library, once Marten has made <c>mt_events</c>.
    /// </summary>
    static IEnumerable<ISchemaObject> HistoryGuard(StoreOptions options)
    {
        var schema = options.Events.DatabaseSchemaName;
        var function = new PostgresqlObjectName(schema, "mt_events_append_only", SchemaUtils.IdentifierUsage.Function);
        // Written as PostgreSQL prints it back (pg_get_functiondef), so that Weasel finds nothing to change next time.
        yield return new Function(function, $$"""
            CREATE OR REPLACE FUNCTION {{function.QualifiedName}}()
             RETURNS trigger
             LANGUAGE plpgsql
            AS $function$
            begin
                if tg_op = 'DELETE'
                   or (new.seq_id, new.id, new.stream_id, new.version, new.data, new.type, new.timestamp, new.tenant_id)
                      is distinct from
                      (old.seq_id, old.id, old.stream_id, old.version, old.data, old.type, old.timestamp, old.tenant_id) then
                    raise exception 'mt_events is append-only: the consent history cannot be changed or deleted';
                end if;
                return new;
            end
            $function$;
            """);
        // One trigger per event: Weasel writes "UPDATE OR DELETE" where PostgreSQL prints back "DELETE OR UPDATE", and
        // would then replace a two-event trigger at every start.
        foreach (var (name, events) in new[] { ("mt_events_no_update", TriggerEvents.Update), ("mt_events_no_delete", TriggerEvents.Delete) })
        {
            yield return new Trigger(
                new PostgresqlObjectName(schema, name, SchemaUtils.IdentifierUsage.General),
                new PostgresqlObjectName(schema, "mt_events", SchemaUtils.IdentifierUsage.General),
                // As pg_get_triggerdef prints it: unqualified when in the search path.
                schema == "public" ? $"{function.Name}()" : $"{function.QualifiedName}()")
            {
                Timing = TriggerTiming.Before,
                Events = events,
                ForEachRow = true,
            };
        }
    }

    public static void AddMarketingPermissionConsumers(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<UpdateMarketingPermissionsConsumer, UpdateMarketingPermissionsConsumerDefinition>();
        bus.AddCommandPartitions<UpdateMarketingPermissionsConsumer>(UpdateMarketingPermissions.Queue);
    }
}
