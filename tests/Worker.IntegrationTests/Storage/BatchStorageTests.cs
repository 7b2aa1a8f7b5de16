using System.Text.Json;
using JasperFx;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Worker.IntegrationTests.Infrastructure;
using Worker.LeadSegments;
using Worker.Storage;

namespace Worker.IntegrationTests.Storage;

/// <summary>
/// A batch reads its commands' documents ahead in one batched query and sends its writes together with one
/// SaveChangesAsync; a load then costs no round trip, a later command reads what an earlier one wrote, and Marten's
/// version check still refuses a write over another writer's change.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class BatchStorageTests(WorkerFixture fixture)
{
    const string Enterprise = "read-ahead";

    IDocumentStore Store => fixture.Worker.Services.GetRequiredService<IDocumentStore>();

    Task<CommandSession> BeginAsync() =>
        CommandSession.BeginAsync(Store, fixture.Worker.Services.GetRequiredService<NpgsqlDataSource>(), default);

    async Task<string> StoredSegmentAsync()
    {
        var id = $"seg-{Guid.NewGuid():N}";
        await using var session = Store.LightweightSession(Enterprise);
        session.Insert(new LeadSegment { Id = id, Code = $"RA{Guid.NewGuid():N}", Description = "original" });
        await session.SaveChangesAsync();
        return id;
    }

    async Task ChangeDescriptionElsewhereAsync(string id)
    {
        await using var other = Store.LightweightSession(Enterprise);
        var segment = await other.LoadAsync<LeadSegment>(id);
        other.Update(segment! with { Description = "changed" });
        await other.SaveChangesAsync();
    }

    async Task<string?> StoredDescriptionAsync(string id)
    {
        await using var session = Store.QuerySession(Enterprise);
        return (await session.LoadAsync<LeadSegment>(id))?.Description;
    }

    [Fact]
    public async Task Loads_answer_from_the_read_ahead_and_the_write_still_checks_the_version()
    {
        var id = await StoredSegmentAsync();
        await using var batch = await BeginAsync();
        await batch.ReadAheadAsync([], [DocumentRef.Of<LeadSegment>(Enterprise, id), DocumentRef.Of<LeadSegment>(Enterprise, "seg-missing")],
            [], default);

        // Another writer changes the document after the read-ahead.
        await ChangeDescriptionElsewhereAsync(id);

        // Read ahead, not read again: the change is not seen, and a missing document is known to be missing.
        var loaded = await batch.LoadAsync<LeadSegment>(Enterprise, id, default);
        Assert.Equal("original", loaded!.Description);
        Assert.NotEqual(Guid.Empty, loaded.Version);
        Assert.Null(await batch.LoadAsync<LeadSegment>(Enterprise, "seg-missing", default));
        var many = await batch.LoadManyAsync<LeadSegment>(Enterprise, [id, "seg-missing"], default);
        Assert.Equal("original", Assert.Single(many, d => d.Key == id).Value.Description);
        Assert.Single(many);

        // The write is refused when sent: Marten sees the other writer's version.
        await batch.UpdateAsync(Enterprise, loaded with { Description = "mine" }, default);
        await Assert.ThrowsAsync<ConcurrencyException>(() => batch.CommitAsync(default));
        Assert.Equal("changed", await StoredDescriptionAsync(id));
    }

    [Fact]
    public async Task Two_writes_of_one_document_in_a_batch_chain_and_a_query_sees_them()
    {
        var id = await StoredSegmentAsync();
        await using (var batch = await BeginAsync())
        {
            await batch.ReadAheadAsync([], [DocumentRef.Of<LeadSegment>(Enterprise, id)], [], default);

            // Two commands of one batch change the same document: the second reads what the first left, and its
            // write is checked against the version the first one made.
            var first = await batch.LoadAsync<LeadSegment>(Enterprise, id, default);
            await batch.UpdateAsync(Enterprise, first! with { Description = "first" }, default);
            var second = await batch.LoadAsync<LeadSegment>(Enterprise, id, default);
            Assert.Equal("first", second!.Description);
            await batch.UpdateAsync(Enterprise, second with { Description = "second" }, default);

            // A query reads the database, which holds the batch's writes by then, though nothing is committed.
            var found = await batch.FindAsync<LeadSegment>(Enterprise, s => s.Description == "second" && s.Id == id, default);
            Assert.Equal(id, found?.Id);
            Assert.Equal("original", await StoredDescriptionAsync(id));

            await batch.CommitAsync(default);
        }
        Assert.Equal("second", await StoredDescriptionAsync(id));
    }

    [Fact]
    public async Task A_batch_that_is_not_committed_leaves_nothing()
    {
        var id = await StoredSegmentAsync();
        await using (var batch = await BeginAsync())
        {
            var loaded = await batch.LoadAsync<LeadSegment>(Enterprise, id, default);
            await batch.UpdateAsync(Enterprise, loaded! with { Description = "first" }, default);
            await batch.UpdateAsync(Enterprise, loaded with { Description = "second" }, default);
        }
        Assert.Equal("original", await StoredDescriptionAsync(id));
    }

    [Fact]
    public async Task A_batch_records_every_answer_in_the_inbox_and_a_later_copy_is_answered_from_it()
    {
        var inbox = fixture.Worker.Services.GetRequiredService<CommandInbox>();
        var ids = new[] { Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid() };
        var statuses = new[] { 200, 422, 200 };
        static string Body(int status, Guid id) => $$"""{"status":{{status}},"for":"{{id}}"}""";
        CommandWork Answering(Guid id, int status) => new(id, (_, _) =>
            Task.FromResult(new CommandOutcome(status == 200, status, JsonDocument.Parse(Body(status, id)).RootElement.Clone())));

        // Three commands in one transaction: their answers go into the inbox together (one statement for all of them).
        var outcomes = await inbox.ApplyTogetherAsync(ids.Select((id, i) => Answering(id, statuses[i])).ToList(), default);
        Assert.Equal(statuses, outcomes.Select(o => o.Status));

        await using (var session = Store.QuerySession())
        {
            for (var i = 0; i < ids.Length; i++)
            {
                var entry = await session.LoadAsync<InboxEntry>(ids[i]);
                Assert.NotNull(entry);
                Assert.Equal((statuses[i] == 200, statuses[i], Body(statuses[i], ids[i])), (entry.Succeeded, entry.Status, entry.Body));
            }
        }
        // In today's partition, as Marten's own insert puts them: an expired day goes with its partition.
        await using (var count = fixture.Worker.Services.GetRequiredService<NpgsqlDataSource>().CreateCommand(
            $"select count(*) from {InboxPartitions.Table} where id = any($1) and day = $2"))
        {
            count.Parameters.AddWithValue(ids);
            count.Parameters.AddWithValue(InboxEntry.DayOf(DateTimeOffset.UtcNow));
            Assert.Equal(3L, await count.ExecuteScalarAsync());
        }

        // A copy of the refused command in a later batch is answered from the inbox word for word, not applied again.
        var applied = false;
        var copy = new CommandWork(ids[1], (_, _) =>
        {
            applied = true;
            return Task.FromResult(new CommandOutcome(true, 200, JsonDocument.Parse("{}").RootElement));
        });
        var again = await inbox.ApplyTogetherAsync([copy, Answering(Guid.NewGuid(), 200)], default);
        Assert.False(applied);
        Assert.True(again[0].Repeated);
        Assert.Equal((422, Body(422, ids[1])), (again[0].Status, again[0].Body.GetRawText()));
    }
}
