using System.Text.Json;
using Npgsql;

namespace Worker.DemoData;

/// <summary>One feature's part of the demo-data file, e.g. <c>"leadSegments": [...]</c>.</summary>
public interface IDemoDataSection
{
    string Name { get; }

    /// <returns>How many documents were written.</returns>
    Task<int> ImportAsync(JsonElement section, NpgsqlConnection connection, NpgsqlTransaction transaction,
        bool overwrite, CancellationToken cancellationToken);
}
