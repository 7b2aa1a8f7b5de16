using System.Text.Json;
using System.Text.Json.Serialization;

namespace Worker.Storage;

/// <summary>
/// How documents are written to <c>data</c>: camelCase, as Marten writes them with
/// <c>UseSystemTextJsonForSerialization(casing: Casing.CamelCase)</c>.
/// </summary>
public static class DocumentJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };
}
