using System.Text;
using Contracts.MarketingPermissions;
using Npgsql;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.Reliability;

/// <summary>Commands for one document are applied one at a time, in the order they arrived.</summary>
[Collection(WorkerCollection.Name)]
public sealed class OrderingTests(WorkerFixture fixture) : IAsyncLifetime
{
    public Task InitializeAsync() => fixture.ResetAsync();
    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task A_burst_of_commands_for_one_account_is_applied_in_arrival_order()
    {
        // T, T, F repeated: in order, every T after an F and every F after a T is a change, the second T is not.
        const string account = "585a4768edce2c5e6f000002";
        var values = Enumerable.Range(0, 300).Select(i => i % 3 != 2).ToList();
        var ids = new List<string>();
        foreach (var (enabled, i) in values.Select((v, i) => (v, i)))
        {
            var correlationId = $"order-{i}-{Guid.NewGuid():N}";
            ids.Add(correlationId);
            await fixture.SendRawAsync(UpdateMarketingPermissions.Queue, Encoding.UTF8.GetBytes(
                $$$"""{"correlationId": "{{{correlationId}}}", "body": {"account_id": "{{{account}}}", "marketing_permissions": [{"id": "5b9707e317c0f859830000c3", "enabled": {{{(enabled ? "true" : "false")}}}}]}}"""));
        }
        foreach (var id in ids) Assert.Equal(200, (await fixture.Results.WaitForAsync(id)).Status);

        await using var command = fixture.Database.CreateCommand(
            "select data->>'correlationId' from mt_events where stream_id = $1 order by version");
        command.Parameters.Add(new NpgsqlParameter { Value = account });
        var changed = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) changed.Add(reader.GetString(0));

        var expected = ids.Where((_, i) => i == 0 || values[i] != values[i - 1]).ToList();
        Assert.Equal(expected, changed);
    }
}
