namespace Publisher.FrontDoor;

/// <summary>The <c>FrontDoor</c> configuration section. Production has no key and no listed tokens by default.</summary>
public sealed class FrontDoorOptions
{
    public const string Section = "FrontDoor";

    /// <summary>How long a request waits for its command's result event before it is answered with a 504.</summary>
    public TimeSpan ResultTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Larger request bodies are refused with the API's error before anything is sent.</summary>
    public int MaxBodyBytes { get; set; } = 256 * 1024;

    /// <summary>The HS256 key JWTs are signed with; without one, no JWT is accepted.</summary>
    public string? JwtSigningKey { get; set; }

    /// <summary>Grants given to the JWTs of a subject (<c>sub</c>), on top of what their own claims grant.</summary>
    public Dictionary<string, Grants> Subjects { get; set; } = [];

    /// <summary>Opaque tokens and what they grant.</summary>
    public Dictionary<string, Grants> Tokens { get; set; } = [];
}

/// <summary>What a token may do: OAuth scopes, and the Pexip enterprises whose lead segments it may change.</summary>
public sealed class Grants
{
    public List<string> Scopes { get; set; } = [];
    public List<string> Enterprises { get; set; } = [];

    public static Grants Merge(Grants a, Grants? b) => new()
    {
        Scopes = [.. a.Scopes.Union(b?.Scopes ?? [])],
        Enterprises = [.. a.Enterprises.Union(b?.Enterprises ?? [])],
    };
}
