using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;
using JasperFx;
using JasperFx.Events;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Weasel.Core;
using Worker.IntegrationTests.Infrastructure;
using Worker.Storage;
using WorkerSegment = Worker.LeadSegments.LeadSegment;

namespace Worker.IntegrationTests.Storage;

/// <summary>
/// What Marten does for the worker: the per-enterprise unique code among live segments, the consent events appended
/// in the transaction of the account's new state, and documents and events that any Marten application configured
/// as docs/operations.md ("Storage: Marten") describes can read.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class MartenMappingTests(WorkerFixture fixture) : IAsyncLifetime
{
    const string Account = "585a4768edce2c5e6f000001";
    const string Newsletter = "5b9707e317c0f859830000c3";
    const string UnknownPermission = "5b9707e317c0f85983000fff";

    public Task InitializeAsync() => fixture.ResetAsync();

    public async Task DisposeAsync()
    {
        await using var command = fixture.Database.CreateCommand("drop trigger if exists test_fault on mt_events");
        await command.ExecuteNonQueryAsync();
    }

    IDocumentStore WorkerStore => fixture.Worker.Services.GetRequiredService<IDocumentStore>();

    async Task<ReceivedResult> UpdateSegmentAsync(string enterprise, string id, string code)
    {
        var correlationId = $"uidx-{Guid.NewGuid():N}";
        await fixture.SendJsonAsync(UpdateLeadSegment.Queue, new { correlationId, enterprise, id, body = new { code } });
        return await fixture.Results.WaitForAsync(correlationId);
    }

    [Fact]
    public async Task A_code_is_unique_among_the_live_segments_of_one_enterprise_only()
    {
        var (enterprise, other) = ($"uidx-{Guid.NewGuid():N}", $"uidx-{Guid.NewGuid():N}");
        await using (var session = WorkerStore.LightweightSession())
        {
            session.ForTenant(enterprise).Store(
                new WorkerSegment { Id = "live", Code = "TAKEN" },
                new WorkerSegment { Id = "mine", Code = "MINE" },
                new WorkerSegment { Id = "gone", Code = "FREED" });
            session.ForTenant(enterprise).Delete<WorkerSegment>("gone");
            session.ForTenant(other).Store(new WorkerSegment { Id = "elsewhere", Code = "ELSEWHERE" });
            await session.SaveChangesAsync();
        }

        // Taken by a live segment of the same enterprise: refused, nothing changes.
        var taken = await UpdateSegmentAsync(enterprise, "mine", "TAKEN");
        Assert.Equal(422, taken.Status);
        Assert.Equal("LEAD_SEGMENT_CODE_ALREADY_IN_USE", taken.Body.GetProperty("errors")[0].GetProperty("code").GetString());
        await using (var query = WorkerStore.QuerySession(enterprise))
            Assert.Equal("MINE", (await query.LoadAsync<WorkerSegment>("mine"))!.Code);

        // Held by a soft-deleted segment: free. Held in another enterprise: free.
        Assert.Equal(200, (await UpdateSegmentAsync(enterprise, "mine", "FREED")).Status);
        Assert.Equal(200, (await UpdateSegmentAsync(other, "elsewhere", "TAKEN")).Status);

        // It is the database that refuses, through the index Marten made: per tenant, live segments only.
        await using var index = fixture.Database.CreateCommand(
            "select indexdef from pg_indexes where indexname = 'mt_doc_leadsegment_uidx_code'");
        var definition = (string)(await index.ExecuteScalarAsync())!;
        Assert.Contains("UNIQUE", definition);
        Assert.Contains("tenant_id", definition);
        Assert.Contains("WHERE (mt_deleted = false)", definition);
    }

    async Task<ReceivedResult> UpdatePermissionsAsync(string permission, bool enabled)
    {
        var correlationId = $"consent-{Guid.NewGuid():N}";
        await fixture.SendRawAsync(UpdateMarketingPermissions.Queue, Encoding.UTF8.GetBytes(
            $$$"""{"correlationId": "{{{correlationId}}}", "body": {"account_id": "{{{Account}}}", "marketing_permissions": [{"id": "{{{permission}}}", "enabled": {{{(enabled ? "true" : "false")}}}}]}}"""));
        return await fixture.Results.WaitForAsync(correlationId);
    }

    async Task<List<(long Version, string Transaction, JsonElement Data)>> EventsAsync()
    {
        await using var command = fixture.Database.CreateCommand(
            "select version, xmin::text, data::text from mt_events where stream_id = $1 order by version");
        command.Parameters.Add(new NpgsqlParameter { Value = Account });
        var events = new List<(long, string, JsonElement)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            events.Add((reader.GetInt64(0), reader.GetString(1), JsonDocument.Parse(reader.GetString(2)).RootElement.Clone()));
        return events;
    }

    async Task<string> AccountTransactionAsync()
    {
        await using var command = fixture.Database.CreateCommand(
            "select xmin::text from mt_doc_account where tenant_id = '*DEFAULT*' and id = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = Account });
        return (string)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task Consent_events_are_appended_in_the_transaction_of_the_accounts_new_state()
    {
        var result = await UpdatePermissionsAsync(Newsletter, true);
        Assert.Equal(200, result.Status);

        // One event, in the account's stream, written by the very transaction that wrote the account (same xmin).
        var appended = Assert.Single(await EventsAsync());
        Assert.Equal(1, appended.Version);
        Assert.Equal(await AccountTransactionAsync(), appended.Transaction);
        Assert.Equal(Newsletter, appended.Data.GetProperty("permissionId").GetString());
        Assert.True(appended.Data.GetProperty("newValue").GetBoolean());
        Assert.Equal(result.Event.GetProperty("correlationId").GetString(), appended.Data.GetProperty("correlationId").GetString());
        Assert.Equal(result.Event.GetProperty("commandMessageId").GetString(), appended.Data.GetProperty("commandMessageId").GetString());

        // A command that changes nothing, or is refused, appends nothing and leaves the account as it is.
        var account = await fixture.SnapshotAsync("mt_doc_account");
        Assert.Equal(200, (await UpdatePermissionsAsync(Newsletter, true)).Status);
        Assert.Equal(404, (await UpdatePermissionsAsync(UnknownPermission, false)).Status);
        Assert.Single(await EventsAsync());
        Assert.Equal(account, await fixture.SnapshotAsync("mt_doc_account"));
    }

    [Fact]
    public async Task When_the_events_cannot_be_appended_the_account_keeps_its_state()
    {
        await using (var breakEvents = fixture.Database.CreateCommand($"""
            create or replace function test_fault() returns trigger language plpgsql as $$
            begin
                if new.stream_id = '{Account}' then raise exception 'injected fault'; end if;
                return new;
            end $$;
            create trigger test_fault before insert on mt_events for each row execute function test_fault();
            """))
        {
            await breakEvents.ExecuteNonQueryAsync();
        }
        var account = await fixture.SnapshotAsync("mt_doc_account");

        var failed = await UpdatePermissionsAsync(Newsletter, true);
        Assert.True(failed.Status == 500, failed.Event.GetRawText());

        Assert.Equal(account, await fixture.SnapshotAsync("mt_doc_account"));
        Assert.Empty(await EventsAsync());
        await fixture.WaitForErrorQueueAsync(UpdateMarketingPermissions.Queue);
    }

    [Fact]
    public async Task The_inbox_purge_removes_exactly_the_days_older_than_the_retention_and_a_copy_inside_it_is_still_answered()
    {
        var partitions = fixture.Worker.Services.GetRequiredService<InboxPartitions>();
        // Partitions back to 30 days ago, as a worker with a 30-day retention leaves them; then a day 40 days ago,
        // which has no partition and lands in the default one.
        await partitions.MaintainAsync(TimeSpan.FromDays(30), default);
        var today = InboxEntry.DayOf(DateTimeOffset.UtcNow);
        var entries = Enumerable.Range(0, 12).Append(40).Select(age => new InboxEntry
        {
            Id = Guid.NewGuid(), Succeeded = true, Status = 200, Body = $$"""{"age":{{age}},"kept":"as written"}""",
            Day = today.AddDays(-age),
        }).ToList();
        await using (var session = WorkerStore.LightweightSession())
        {
            session.Insert(entries.ToArray());
            await session.SaveChangesAsync();
        }
        Assert.Equal(1, await CountAsync($"select count(*) from mt_doc_inbox_default where id = '{entries[^1].Id}'"));

        var retention = TimeSpan.FromDays(7);
        var before = DateTimeOffset.UtcNow - retention;
        var done = await partitions.MaintainAsync(retention, default);
        var after = DateTimeOffset.UtcNow - retention;

        // Removed: every entry whose whole day is older than the retention. Kept: every other one.
        await using (var query = WorkerStore.QuerySession())
        {
            foreach (var entry in entries)
            {
                var dayEnd = entry.Day.AddDays(1);
                if (dayEnd > before && dayEnd <= after) continue; // the cut-off crossed midnight during the purge
                var kept = await query.LoadAsync<InboxEntry>(entry.Id);
                if (dayEnd <= before) Assert.True(kept is null, $"the entry of {entry.Day:d} outlived the retention");
                else Assert.True(kept is not null, $"the entry of {entry.Day:d} was removed inside the retention");
            }
        }
        // Whole days went as partitions (23 of them: 30 to 8 days ago), the stray row from the default partition.
        Assert.Equal(23, done.Dropped);
        Assert.True(done.Deleted >= 1, $"{done.Deleted} rows deleted from the default partition");
        var oldest = await CountAsync("""
            select min(to_date(substring(c.relname from '_d([0-9]{8})$'), 'YYYYMMDD') - (now() at time zone 'UTC')::date)
            from pg_inherits i join pg_class c on c.oid = i.inhrelid
            where i.inhparent = 'mt_doc_inbox'::regclass and c.relname ~ '_d[0-9]{8}$'
            """);
        Assert.Equal((before.UtcDateTime.Date - today.UtcDateTime.Date).Days, oldest);

        // A copy of a command answered 3 days ago is answered from the inbox, word for word, and not applied.
        var copied = entries.Single(e => e.Day == today.AddDays(-3));
        var segment = await fixture.SnapshotAsync("mt_doc_leadsegment");
        var correlationId = $"copy-{Guid.NewGuid():N}";
        await fixture.SendJsonAsync(UpdateLeadSegment.Queue,
            new { correlationId, enterprise = "acme", id = "1234", body = new { code = "APPLIED" } }, copied.Id.ToString());
        var answer = await fixture.Results.WaitForAsync(correlationId);
        Assert.Equal(200, answer.Status);
        Assert.Equal(copied.Body, answer.Body.GetRawText());
        Assert.Equal(segment, await fixture.SnapshotAsync("mt_doc_leadsegment"));
    }

    [Fact]
    public async Task An_inbox_of_the_earlier_release_is_carried_over_by_the_migration_and_its_answers_inside_the_retention_still_count()
    {
        // The earlier layout: one unpartitioned, conjoined-tenanted Marten table with the answer's time in the JSON.
        var (young, old) = (Guid.NewGuid(), Guid.NewGuid());
        await CountAsync("""
            create table mt_doc_inboxentry (tenant_id varchar not null default '*DEFAULT*', id uuid not null,
                data jsonb not null, mt_last_modified timestamptz default transaction_timestamp(), mt_version uuid not null,
                mt_dotnet_type varchar, primary key (tenant_id, id))
            """);
        foreach (var (id, age) in new[] { (young, 2), (old, 9) })
        {
            var data = JsonSerializer.Serialize(new
            {
                id, queue = UpdateLeadSegment.Queue, succeeded = true, status = 200, body = """{"carried":"over"}""",
                processedAt = DateTimeOffset.UtcNow.AddDays(-age),
            });
            await CountAsync($"insert into mt_doc_inboxentry (id, data, mt_version, mt_dotnet_type) values " +
                $"('{id}', '{data}', gen_random_uuid(), 'Worker.Storage.InboxEntry')");
        }

        await fixture.Worker.Services.GetRequiredService<SchemaSetup>().EnsureAsync(migrate: true, default);

        Assert.Equal(0, await CountAsync("select count(*) from pg_class where relname = 'mt_doc_inboxentry'"));
        await using (var query = WorkerStore.QuerySession())
        {
            Assert.Null(await query.LoadAsync<InboxEntry>(old));
            var carried = await query.LoadAsync<InboxEntry>(young);
            Assert.NotNull(carried);
            Assert.Equal((true, 200, """{"carried":"over"}"""), (carried.Succeeded, carried.Status, carried.Body));
        }
        var segment = await fixture.SnapshotAsync("mt_doc_leadsegment");
        var correlationId = $"carried-{Guid.NewGuid():N}";
        await fixture.SendJsonAsync(UpdateLeadSegment.Queue,
            new { correlationId, enterprise = "acme", id = "1234", body = new { code = "APPLIED" } }, young.ToString());
        var answer = await fixture.Results.WaitForAsync(correlationId);
        Assert.Equal("""{"carried":"over"}""", answer.Body.GetRawText());
        Assert.Equal(segment, await fixture.SnapshotAsync("mt_doc_leadsegment"));
    }

    async Task<long> CountAsync(string sql)
    {
        await using var command = fixture.Database.CreateCommand(sql);
        return Convert.ToInt64(await command.ExecuteScalarAsync());
    }

    [Fact]
    public void The_worker_writes_no_document_SQL_of_its_own()
    {
        // Documents, inbox entries and events go through Marten; hand-written SQL on Marten's tables would bypass its
        // versioning, tenancy and soft deletes.
        var handWritten = new Regex(@"(insert\s+into|update|delete\s+from)\s+[\w.""{}]*mt_(doc|events|streams)",
            RegexOptions.IgnoreCase);
        var offenders = Directory.EnumerateFiles(Path.Combine(LocalServices.RepositoryRoot(), "src", "Worker"), "*.cs",
                SearchOption.AllDirectories)
            .Where(path => !path.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .Where(path => handWritten.IsMatch(File.ReadAllText(path)))
            .ToList();
        Assert.Empty(offenders);
        // The check itself can fail: the bench's limit pipeline writes such SQL on purpose.
        Assert.Matches(handWritten, File.ReadAllText(
            Path.Combine(LocalServices.RepositoryRoot(), "src", "Bench", "LimitPipeline.cs")));
    }

    [Fact]
    public async Task A_separate_Marten_application_configured_as_the_operations_guide_says_reads_the_workers_data()
    {
        Assert.Equal(200, (await UpdateSegmentAsync("acme", "1234", "READBACK")).Status);
        Assert.Equal(200, (await UpdatePermissionsAsync(Newsletter, true)).Status);

        // Only what docs/operations.md ("Storage: Marten") says: its own types, no code from the worker.
        await using var store = DocumentStore.For(options =>
        {
            options.Connection(fixture.Services.Postgres);
            options.AutoCreateSchemaObjects = AutoCreate.None;
            options.UseSystemTextJsonForSerialization(casing: Casing.CamelCase);
            options.Policies.AllDocumentsAreMultiTenanted();
            options.Schema.For<Reader.LeadSegment>().DocumentAlias("leadsegment").SoftDeleted();
            options.Events.StreamIdentity = StreamIdentity.AsString;
            options.Events.MapEventType<Reader.ConsentChanged>("consent_changed");
        });

        await using var acme = store.QuerySession("acme");
        var segment = await acme.LoadAsync<Reader.LeadSegment>("1234");
        Assert.Equal("READBACK", segment!.Code);
        Assert.Equal("New customer", segment.Description);
        Assert.Equal(["READBACK"], (await acme.Query<Reader.LeadSegment>().Where(s => s.Code == "READBACK").ToListAsync())
            .Select(s => s.Code));
        await using var globex = store.QuerySession("globex");
        Assert.NotEqual("READBACK", (await globex.LoadAsync<Reader.LeadSegment>("1234"))?.Code);

        await using var history = store.QuerySession();
        var changed = Assert.Single(await history.Events.FetchStreamAsync(Account));
        var consent = Assert.IsType<Reader.ConsentChanged>(changed.Data);
        Assert.Equal((Newsletter, (bool?)false, true), (consent.PermissionId, consent.OldValue, consent.NewValue));
    }
}

/// <summary>The worker's documents and events as another Marten application would declare them.</summary>
public static class Reader
{
    public sealed class LeadSegment
    {
        public string Id { get; set; } = "";
        public string Code { get; set; } = "";
        public string? Description { get; set; }
        public int? EarliestCallbackHours { get; set; }
        public DateTimeOffset UpdatedAt { get; set; }
    }

    public sealed class ConsentChanged
    {
        public string PermissionId { get; set; } = "";
        public bool? OldValue { get; set; }
        public bool NewValue { get; set; }
        public string CorrelationId { get; set; } = "";
    }
}
