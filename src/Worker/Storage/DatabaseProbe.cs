using Npgsql;

namespace Worker.Storage;

/// <summary>
/// Asks PostgreSQL whether it answers, on a connection of its own that is opened for the question and closed after
/// it: a pooled connection may be one the server dropped while it restarted, which would say nothing about the server
/// as it is now.
/// </summary>
public sealed class DatabaseProbe : IAsyncDisposable
{
    readonly NpgsqlDataSource _dataSource;

    public DatabaseProbe(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false };
        var dataSource = new NpgsqlDataSourceBuilder(builder.ConnectionString) { Name = "worker-probe" };
        // A probe is no command's work: no span of its own every few seconds, and none that names the server.
        dataSource.ConfigureTracing(tracing => tracing.ConfigureCommandFilter(_ => false).EnablePhysicalOpenTracing(false));
        _dataSource = dataSource.Build();
    }

    /// <summary>Null when the database answered within <paramref name="timeout"/>; else why not, in one line.</summary>
    public async Task<string?> AskAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await using var command = _dataSource.CreateCommand("select 1");
            // WaitAsync too: a connection attempt into a silent network ends by the deadline, not by the driver's own.
            await command.ExecuteScalarAsync(deadline.Token).WaitAsync(timeout, cancellationToken);
            return null;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            return e is OperationCanceledException or TimeoutException
                ? $"no answer within {timeout.TotalSeconds:0.#} s"
                : e.GetBaseException().Message.TrimEnd('.');
        }
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
