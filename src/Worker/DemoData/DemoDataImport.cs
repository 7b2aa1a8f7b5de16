using System.Text.Json;
using Npgsql;
using Worker.Storage;

namespace Worker.DemoData;

/// <summary>
/// Loads a demo-data file in one transaction. Loading twice changes nothing: documents that exist are kept, unless
/// <c>--reset</c> asks for them to be put back as the file has them.
/// </summary>
public sealed class DemoDataImport(NpgsqlDataSource dataSource, Schema schema, IEnumerable<IDemoDataSection> sections,
    ILogger<DemoDataImport> logger)
{
    public async Task ImportAsync(string path, bool overwrite, CancellationToken cancellationToken)
    {
        await schema.EnsureAsync(cancellationToken);
        using var file = JsonDocument.Parse(await File.ReadAllBytesAsync(path, cancellationToken));
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        foreach (var section in sections)
        {
            if (!file.RootElement.TryGetProperty(section.Name, out var data)) continue;
            var written = await section.ImportAsync(data, connection, transaction, overwrite, cancellationToken);
            logger.LogInformation("Imported {Written} new documents of {Section} from {Path}", written, section.Name, path);
        }
        await transaction.CommitAsync(cancellationToken);
    }
}
