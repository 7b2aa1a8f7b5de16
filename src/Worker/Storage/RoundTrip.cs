using Npgsql;

namespace Worker.Storage;

/// <summary>
/// Statements sent to PostgreSQL together, as one <see cref="NpgsqlBatch"/>, and run in the order they were added.
/// A round trip costs the worker and PostgreSQL more than most of the statements themselves (each side wakes up, reads,
/// writes and sleeps again), so a batch of commands sends its reads together and its writes together.
/// </summary>
public sealed class RoundTrip
{
    readonly List<Step> _steps = [];

    sealed record Step(NpgsqlBatchCommand Command, Func<NpgsqlDataReader, CancellationToken, Task>? Read,
        Action<int>? Affected);

    public bool IsEmpty => _steps.Count == 0;

    /// <summary>A statement whose rows <paramref name="read"/> takes, once the statements before it have run.</summary>
    public void Query(NpgsqlBatchCommand command, Func<NpgsqlDataReader, CancellationToken, Task> read) =>
        _steps.Add(new Step(command, read, null));

    /// <summary>A statement that returns no rows; <paramref name="affected"/> is told how many it changed.</summary>
    public void Execute(NpgsqlBatchCommand command, Action<int>? affected = null) =>
        _steps.Add(new Step(command, null, affected));

    /// <summary>Appends the statements of another trip, to run after these.</summary>
    public void Include(RoundTrip other) => _steps.AddRange(other._steps);

    /// <summary>
    /// Runs the statements. A statement that fails throws its <see cref="PostgresException"/> and leaves the
    /// transaction aborted; those after it never run.
    /// </summary>
    public async Task RunAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction,
        CancellationToken cancellationToken)
    {
        if (_steps.Count == 0) return;
        await using var batch = new NpgsqlBatch(connection, transaction);
        foreach (var step in _steps) batch.BatchCommands.Add(step.Command);
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            for (var i = 0; i < _steps.Count; i++)
            {
                if (i > 0) await reader.NextResultAsync(cancellationToken);
                if (_steps[i].Read is { } read) await read(reader, cancellationToken);
            }
        }
        foreach (var step in _steps) step.Affected?.Invoke(step.Command.RecordsAffected);
    }
}
