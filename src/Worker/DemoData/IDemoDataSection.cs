using System.Text.Json;
using Marten;

namespace Worker.DemoData;

/// <summary>One feature's part of the demo-data file, e.g. <c>"leadSegments": [...]</c>.</summary>
public interface IDemoDataSection
{
    string Name { get; }

    /// <returns>How many documents were written.</returns>
    Task<int> ImportAsync(JsonElement section, IDocumentSession session, bool overwrite, CancellationToken cancellationToken);
}
