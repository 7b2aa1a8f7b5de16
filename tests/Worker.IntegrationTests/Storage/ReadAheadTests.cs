using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Worker.IntegrationTests.Infrastructure;
using Worker.LeadSegments;
using Worker.Storage;

namespace Worker.IntegrationTests.Storage;

/// <summary>
/// A batch reads its commands' documents ahead in one query; a load then costs no round trip, and the guarded write
/// still refuses a version that another writer replaced meanwhile.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class ReadAheadTests(WorkerFixture fixture)
{
    const string Enterprise = "read-ahead";

    [Fact]
    public async Task Loads_answer_from_the_read_ahead_and_writes_still_check_the_version()
    {
        var store = fixture.Worker.Services.GetRequiredService<DocumentStore>();
        var dataSource = fixture.Worker.Services.GetRequiredService<NpgsqlDataSource>();
        var id = $"seg-{Guid.NewGuid():N}";
        var original = new LeadSegment { Id = id, Code = $"RA{Guid.NewGuid():N}", Description = "original" };
        await using (var setup = await dataSource.OpenConnectionAsync())
        await using (var transaction = await setup.BeginTransactionAsync())
        {
            await store.InsertAsync(setup, transaction, Enterprise, id, original, false, null, overwrite: false, default);
            await transaction.CommitAsync();
        }

        await using var connection = await dataSource.OpenConnectionAsync();
        await using var batch = await connection.BeginTransactionAsync();
        await store.ReadAheadAsync(connection, batch,
            [DocumentRef.Of<LeadSegment>(Enterprise, id), DocumentRef.Of<LeadSegment>(Enterprise, "seg-missing")], default);

        // Another writer changes the document after the read-ahead.
        await using (var other = fixture.Database.CreateCommand(
            """
            update mt_doc_leadsegment set data = jsonb_set(data, '{description}', '"changed"'), mt_version = gen_random_uuid()
             where tenant_id = $1 and id = $2
            """))
        {
            other.Parameters.Add(new NpgsqlParameter { Value = Enterprise });
            other.Parameters.Add(new NpgsqlParameter { Value = id });
            Assert.Equal(1, await other.ExecuteNonQueryAsync());
        }

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
}
