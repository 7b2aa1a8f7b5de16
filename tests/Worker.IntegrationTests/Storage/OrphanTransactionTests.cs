using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Worker.IntegrationTests.Infrastructure;
using Worker.Storage;

namespace Worker.IntegrationTests.Storage;

/// <summary>
/// A transaction whose connection a silent network cut off would keep its rows locked on the server until the server
/// noticed; the worker's sessions ask the server to end such a transaction once it has been idle for 30 s, so that a
/// command tried again after the outage does not wait on its own earlier attempt's locks.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class OrphanTransactionTests(WorkerFixture fixture)
{
    [Fact]
    public async Task The_workers_sessions_end_a_transaction_left_idle_for_30_seconds()
    {
        var dataSource = fixture.Worker.Services.GetRequiredService<NpgsqlDataSource>();
        await using var command = dataSource.CreateCommand("show idle_in_transaction_session_timeout");
        Assert.Equal("30s", await command.ExecuteScalarAsync());
        Assert.Equal(TimeSpan.FromSeconds(30), StorageSetup.OrphanTransactionAfter);
    }

    [Fact]
    public async Task Options_of_the_operators_own_win_an_empty_one_included()
    {
        using var host = WorkerFixture.BuildWorker(fixture.Services, new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = fixture.Services.Postgres + ";Options=",
        });
        await using var command = host.Services.GetRequiredService<NpgsqlDataSource>().CreateCommand(
            "show idle_in_transaction_session_timeout");
        Assert.Equal("0", await command.ExecuteScalarAsync());
    }
}
