using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Worker.IntegrationTests.Infrastructure;
using Worker.LeadSegments;
using Worker.Storage;

namespace Worker.IntegrationTests.Storage;

/// <summary>
/// A batch reads its commands' documents ahead in one round trip and holds its writes back to send them together; a
/// load then costs no round trip, and the guarded write still refuses a version that another writer replaced
/// meanwhile, when it is sent.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class BatchStorageTests(WorkerFixture fixture)
{
    const string Enterprise = "read-ahead";

    DocumentStore Store => fixture.Worker.Services.GetRequiredService<DocumentStore>();

    NpgsqlDataSource DataSource => fixture.Worker.Services.GetRequiredService<NpgsqlDataSource>();

    async Task<LeadSegment> StoredSegmentAsync()
    {
        var id = $"seg-{Guid.NewGuid():N}";
        var segment = new LeadSegment { Id = id, Code = $"RA{Guid.NewGuid():N}", Description = "original" };
        await using var setup = await DataSource.OpenConnectionAsync();
        await using var transaction = await setup.BeginTransactionAsync();
        await Store.InsertAsync(setup, transaction, Enterprise, id, segment, false, null, overwrite: false, default);
        await transaction.CommitAsync();
        return segment;
    }

    async Task ChangeDescriptionElsewhereAsync(string id)
    {
        await using var other = fixture.Database.CreateCommand(
            """
            update mt_doc_leadsegment set data = jsonb_set(data, '{description}', '"changed"'), mt_version = gen_random_uuid()
             where tenant_id = $1 and id = $2
            """);
        other.Parameters.Add(new NpgsqlParameter { Value = Enterprise });
        other.Parameters.Add(new NpgsqlParameter { Value = id });
        Assert.Equal(1, await other.ExecuteNonQueryAsync());
    }

    async Task<string?> StoredDescriptionAsync(string id)
    {
        await using var command = fixture.Database.CreateCommand(
            "select data ->> 'description' from mt_doc_leadsegment where tenant_id = $1 and id = $2");
        command.Parameters.Add(new NpgsqlParameter { Value = Enterprise });
        command.Parameters.Add(new NpgsqlParameter { Value = id });
        return (string?)await command.ExecuteScalarAsync();
    }

    [Fact]
    public async Task Loads_answer_from_the_read_ahead_and_writes_still_check_the_version()
    {
        var store = Store;
        var id = (await StoredSegmentAsync()).Id;

        await using var connection = await DataSource.OpenConnectionAsync();
        await using var batch = await connection.BeginTransactionAsync();
        await store.ReadAheadAsync(connection, batch,
            [DocumentRef.Of<LeadSegment>(Enterprise, id), DocumentRef.Of<LeadSegment>(Enterprise, "seg-missing")], default);

        // Another writer changes the document after the read-ahead.
        await ChangeDescriptionElsewhereAsync(id);

        // Read ahead, not read again: the change is not seen, and a missing document is known to be missing.
        var loaded = await store.LoadAsync<LeadSegment>(connection, batch, Enterprise, id, default);
        Assert.Equal("original", loaded!.Document.Description);
        Assert.Null(await store.LoadAsync<LeadSegment>(connection, batch, Enterprise, "seg-missing", default));
        var many = await store.LoadManyAsync<LeadSegment>(connection, batch, Enterprise, [id, "seg-missing"], default);
        Assert.Equal("original", Assert.Single(many, d => d.Key == id).Value.Description);
        Assert.Single(many);

        // The write guard still sees the other writer; after a write the document is read afresh.
        var (result, _) = await store.UpdateAsync(connection, batch, Enterprise, id,
            loaded.Document with { Description = "mine" }, loaded.Version, false, null, default);
        Assert.Equal(WriteResult.VersionConflict, result);
        Assert.Equal("changed", (await store.LoadAsync<LeadSegment>(connection, batch, Enterprise, id, default))!.Document.Description);

        store.Forget(batch);
        await batch.RollbackAsync();
    }

    [Fact]
    public async Task Held_writes_are_seen_by_later_loads_and_reach_the_database_together()
    {
        var store = Store;
        var id = (await StoredSegmentAsync()).Id;
        await using var connection = await DataSource.OpenConnectionAsync();
        await using var batch = await connection.BeginTransactionAsync();
        store.HoldWrites(batch);
        await store.ReadAheadAsync(connection, batch, [DocumentRef.Of<LeadSegment>(Enterprise, id)], default);

        // Two commands of one batch change the same document: the second reads what the first left.
        var first = await store.LoadAsync<LeadSegment>(connection, batch, Enterprise, id, default);
        Assert.Equal(WriteResult.Written, (await store.UpdateAsync(connection, batch, Enterprise, id,
            first!.Document with { Description = "first" }, first.Version, false, null, default)).Result);
        var second = await store.LoadAsync<LeadSegment>(connection, batch, Enterprise, id, default);
        Assert.Equal("first", second!.Document.Description);
        Assert.NotEqual(first.Version, second.Version);
        Assert.Equal(WriteResult.Written, (await store.UpdateAsync(connection, batch, Enterprise, id,
            second.Document with { Description = "second" }, second.Version, false, null, default)).Result);

        // Nothing was sent yet, until a read the batch cannot answer itself.
        await using (var peek = new NpgsqlCommand(
            "select data ->> 'description' from mt_doc_leadsegment where tenant_id = $1 and id = $2", connection, batch))
        {
            peek.Parameters.Add(new NpgsqlParameter { Value = Enterprise });
            peek.Parameters.Add(new NpgsqlParameter { Value = id });
            Assert.Equal("original", (string?)await peek.ExecuteScalarAsync());
        }
        var found = await store.FindAsync<LeadSegment>(connection, batch, Enterprise, [("description", "second")], default);
        Assert.Equal(id, found?.Id);

        store.Forget(batch);
        await batch.CommitAsync();
        Assert.Equal("second", await StoredDescriptionAsync(id));
    }

    [Fact]
    public async Task A_held_write_that_meets_another_writers_version_fails_when_sent()
    {
        var store = Store;
        var id = (await StoredSegmentAsync()).Id;
        await using var connection = await DataSource.OpenConnectionAsync();
        await using var batch = await connection.BeginTransactionAsync();
        store.HoldWrites(batch);
        await store.ReadAheadAsync(connection, batch, [DocumentRef.Of<LeadSegment>(Enterprise, id)], default);
        var loaded = await store.LoadAsync<LeadSegment>(connection, batch, Enterprise, id, default);
        await ChangeDescriptionElsewhereAsync(id);

        // Held: answered at once, checked when sent.
        Assert.Equal(WriteResult.Written, (await store.UpdateAsync(connection, batch, Enterprise, id,
            loaded!.Document with { Description = "mine" }, loaded.Version, false, null, default)).Result);
        var writes = new RoundTrip();
        store.TakeHeldWrites(batch, writes);
        Assert.False(writes.IsEmpty);
        await Assert.ThrowsAsync<DocumentChangedConcurrentlyException>(() => writes.RunAsync(connection, batch, default));

        store.Forget(batch);
        await batch.RollbackAsync();
        Assert.Equal("changed", await StoredDescriptionAsync(id));
    }
}
