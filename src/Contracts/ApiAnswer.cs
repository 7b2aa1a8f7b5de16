using System.Text.Json;

namespace Contracts;

/// <summary>What a documented API answers to a request: its HTTP status and its response body.</summary>
public readonly record struct ApiAnswer(int Status, JsonElement Body);
