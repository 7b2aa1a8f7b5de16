namespace Publisher.FrontDoor;

/// <summary>The <c>FrontDoor</c> configuration section. Production has no key and no listed tokens by default.</summary>
public sealed class FrontDoorOptions
{
    public const string Section = "FrontDoor";

    /// <summary>How long a request waits for its command's result event before it is answered with a 504.</summary>
    public TimeSpan ResultTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Larger request bodies are refused with the API's error before anything is sent.</summary>
    public int MaxBodyBytes { get; set; } = 256 * 1024;

    /// <summary>
    /// The OpenID Connect issuer whose JWTs are accepted (<c>https://login.example/realms/x</c>): its signing keys come
    /// from its metadata (<c>/.well-known/openid-configuration</c>, or <see cref="MetadataAddress"/>) and its JWKS,
    /// refetched as the issuer rotates them. Tokens must carry this issuer, <see cref="Audience"/> and an expiry.
    /// </summary>
    public string? Authority { get; set; }

    /// <summary>The issuer's metadata document, when it is not at the authority's well-known address.</summary>
    public string? MetadataAddress { get; set; }

    /// <summary>The audience (<c>aud</c>) a token must be for; required with an authority or a key.</summary>
    public string? Audience { get; set; }

    /// <summary>The issuer (<c>iss</c>) HS256 tokens must carry, when <see cref="JwtSigningKey"/> is used.</summary>
    public string? Issuer { get; set; }

    /// <summary>How far a token's expiry and not-before may be off the front door's clock.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// A shared HS256 key (at least 256 bits, 32 bytes); tokens signed with it must carry <see cref="Issuer"/> when
    /// set, <see cref="Audience"/> and an expiry. Only in Development is a shorter key accepted, for the seeds' sample
    /// token, without those checks.
    /// </summary>
    public string? JwtSigningKey { get; set; }

    /// <summary>Grants given to the JWTs of a subject (<c>sub</c>), on top of what their own claims grant.</summary>
    public Dictionary<string, Grants> Subjects { get; set; } = [];

    /// <summary>Opaque tokens and what they grant.</summary>
    public Dictionary<string, Grants> Tokens { get; set; } = [];
}

/// <summary>What a token may do: OAuth scopes, and the Pexip enterprises whose lead segments it may change.</summary>
public sealed class Grants
{
    /// <summary>The scope Payway documents for updating marketing permissions.</summary>
    public const string MarketingPermissionsScope = "/external/marketing_permission/w";

    /// <summary>The scope the promotion-list calls need (Valomnia documents none; this one is ours).</summary>
    public const string CustomerPromotionListsScope = "customerPromotionLists:write";

    public List<string> Scopes { get; set; } = [];
    public List<string> Enterprises { get; set; } = [];

    /// <summary>What is missing for <paramref name="scope"/>, as a 403 names it; null when the scope is granted.</summary>
    public string? Lacking(string scope) => Scopes.Contains(scope) ? null : $"the scope {scope}";

    /// <summary>What is missing for the lead segments of <paramref name="enterprise"/>; null when they may be changed.</summary>
    public string? LackingEnterprise(string enterprise) =>
        Enterprises.Contains(enterprise) ? null : $"access to enterprise {enterprise}";

    public static Grants Merge(Grants a, Grants? b) => new()
    {
        Scopes = [.. a.Scopes.Union(b?.Scopes ?? [])],
        Enterprises = [.. a.Enterprises.Union(b?.Enterprises ?? [])],
    };
}
