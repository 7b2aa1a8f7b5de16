using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Hosting;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Publisher.FrontDoor;

/// <summary>
/// Reads <c>Authorization: Bearer</c> tokens: an opaque token listed in configuration, or a JWT from the configured
/// OpenID Connect issuer (its keys from its metadata and JWKS, fetched again when a token names a key they lack:
/// <see cref="IssuerMetadata"/>)
/// or signed with the configured HS256 key. A JWT must carry the configured issuer and audience and an expiry. It
/// grants its <c>scope</c> (or <c>scp</c>) and <c>enterprises</c> claims, plus what configuration lists for its
/// subject. Validation is Microsoft.IdentityModel's. Only in Development is a key shorter than 256 bits accepted
/// (the seeds' sample token is signed with a 152-bit one, which Microsoft.IdentityModel refuses), read by a check of
/// its own without issuer, audience or a required expiry.
/// </summary>
public sealed class BearerTokens
{
    /// <summary>HS256 keys shorter than this are refused outside Development.</summary>
    public const int MinimumKeyBytes = 32;

    readonly IOptionsMonitor<FrontDoorOptions> _options;
    readonly TimeProvider _clock;
    readonly bool _development;
    readonly IssuerMetadata? _issuer;
    readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };

    public BearerTokens(IOptionsMonitor<FrontDoorOptions> options, TimeProvider clock, IHostEnvironment environment)
    {
        _options = options;
        _clock = clock;
        _development = environment.IsDevelopment();
        var settings = options.CurrentValue;
        var metadata = settings.MetadataAddress
            ?? (settings.Authority is { Length: > 0 } authority ? authority.TrimEnd('/') + "/.well-known/openid-configuration" : null);
        if (metadata is null) return;
        // HTTPS, except for an issuer on this machine's loopback (a test issuer, a sidecar).
        var loopback = Uri.TryCreate(metadata, UriKind.Absolute, out var address) && address.IsLoopback;
        _issuer = new IssuerMetadata(metadata, new HttpDocumentRetriever { RequireHttps = !loopback }, clock);
    }

    /// <summary>
    /// Ends the start of <c>serve</c> in one line when nothing could ever be accepted, or what is configured would
    /// accept tokens anyone can mint.
    /// </summary>
    public static void Check(FrontDoorOptions settings, bool development)
    {
        var hint = "set FrontDoor__Authority and FrontDoor__Audience (an OpenID Connect issuer), or " +
            $"FrontDoor__JwtSigningKey (HS256, at least {MinimumKeyBytes * 8} bits) and FrontDoor__Audience; " +
            "DOTNET_ENVIRONMENT=Development uses the demo tokens";
        var issuer = !string.IsNullOrEmpty(settings.Authority) || !string.IsNullOrEmpty(settings.MetadataAddress);
        var key = !string.IsNullOrEmpty(settings.JwtSigningKey);
        if (!issuer && !key && settings.Tokens.Count == 0)
            throw new StartupFailure($"serve has no token issuer, key or token configured; {hint}", StartupFailure.BadSetting);
        if (development) return;
        if (key && Encoding.UTF8.GetByteCount(settings.JwtSigningKey!) < MinimumKeyBytes)
            throw new StartupFailure($"FrontDoor:JwtSigningKey has {Encoding.UTF8.GetByteCount(settings.JwtSigningKey!) * 8} " +
                $"bits; at least {MinimumKeyBytes * 8} are needed outside Development", StartupFailure.BadSetting);
        if ((issuer || key) && string.IsNullOrEmpty(settings.Audience))
            throw new StartupFailure("FrontDoor:Audience is not set: a token for any other service of the issuer would be " +
                $"accepted; {hint}", StartupFailure.BadSetting);
    }

    /// <summary>The grants of the request's token, or null when it has none that is valid.</summary>
    public async Task<Grants?> AuthenticateAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return null;
        var token = header[scheme.Length..].Trim();
        if (token.Length == 0) return null;

        var settings = _options.CurrentValue;
        if (settings.Tokens.TryGetValue(token, out var listed)) return listed;
        if (_development && settings.JwtSigningKey is { } demoKey && Encoding.UTF8.GetByteCount(demoKey) < MinimumKeyBytes)
            return ReadDemoJwt(token, settings, demoKey);

        if (_issuer is not null && await FromIssuerAsync(token, settings) is { } fromIssuer)
            return GrantsOf(fromIssuer, settings);
        if (!string.IsNullOrEmpty(settings.JwtSigningKey) && await SignedWithKeyAsync(token, settings) is { } signed)
            return GrantsOf(signed, settings);
        return null;
    }

    async Task<JsonWebToken?> FromIssuerAsync(string token, FrontDoorOptions settings)
    {
        // No metadata: no token can be checked, none is accepted.
        if (await _issuer!.CurrentAsync() is not { } known) return null;
        var result = await ValidateAsync(token, settings, known);
        if (result.IsValid) return result.SecurityToken as JsonWebToken;
        // A key the known JWKS lacks (or one that does not verify the token): the issuer may have rotated its keys.
        if (result.Exception is not (SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException))
            return null;
        if (await _issuer.FetchAsync() is not { } fetched || ReferenceEquals(fetched, known)) return null;
        result = await ValidateAsync(token, settings, fetched);
        return result.IsValid ? result.SecurityToken as JsonWebToken : null;
    }

    Task<TokenValidationResult> ValidateAsync(string token, FrontDoorOptions settings, OpenIdConnectConfiguration issuer)
    {
        var parameters = Required(settings);
        parameters.ValidIssuer = issuer.Issuer;
        parameters.IssuerSigningKeys = issuer.SigningKeys;
        return _handler.ValidateTokenAsync(token, parameters);
    }

    async Task<JsonWebToken?> SignedWithKeyAsync(string token, FrontDoorOptions settings)
    {
        var parameters = Required(settings);
        parameters.IssuerSigningKey = new SymmetricSecurityKey(Encoding.UTF8.GetBytes(settings.JwtSigningKey!));
        parameters.ValidAlgorithms = [SecurityAlgorithms.HmacSha256];
        parameters.ValidateIssuer = !string.IsNullOrEmpty(settings.Issuer);
        parameters.ValidIssuer = settings.Issuer;
        var result = await _handler.ValidateTokenAsync(token, parameters);
        return result.IsValid ? result.SecurityToken as JsonWebToken : null;
    }

    /// <summary>What every JWT must satisfy: the audience, an expiry not passed, a signature.</summary>
    static TokenValidationParameters Required(FrontDoorOptions settings) => new()
    {
        ValidateAudience = true,
        ValidAudience = settings.Audience,
        RequireAudience = true,
        RequireExpirationTime = true,
        ValidateLifetime = true,
        ClockSkew = settings.ClockSkew,
        RequireSignedTokens = true,
    };

    static Grants GrantsOf(JsonWebToken token, FrontDoorOptions settings)
    {
        using var payload = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(token.EncodedPayload));
        return GrantsOf(payload.RootElement, settings);
    }

    static Grants GrantsOf(JsonElement claims, FrontDoorOptions settings)
    {
        var own = new Grants { Scopes = Strings(claims, "scope", "scp"), Enterprises = Strings(claims, "enterprises") };
        var subject = claims.TryGetProperty("sub", out var sub) && sub.ValueKind == JsonValueKind.String ? sub.GetString() : null;
        return Grants.Merge(own, subject is null ? null : settings.Subjects.GetValueOrDefault(subject));
    }

    /// <summary>Development only: the seeds' sample token, HS256 with a key too short for Microsoft.IdentityModel.</summary>
    Grants? ReadDemoJwt(string token, FrontDoorOptions settings, string key)
    {
        var parts = token.Split('.');
        if (parts.Length != 3) return null;
        try
        {
            using var header = JsonDocument.Parse(Base64Url(parts[0]));
            if (!header.RootElement.TryGetProperty("alg", out var alg) || alg.GetString() != "HS256") return null;

            var expected = HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), Encoding.ASCII.GetBytes($"{parts[0]}.{parts[1]}"));
            if (!CryptographicOperations.FixedTimeEquals(expected, Base64Url(parts[2]))) return null;

            using var payload = JsonDocument.Parse(Base64Url(parts[1]));
            var claims = payload.RootElement;
            var now = _clock.GetUtcNow().ToUnixTimeSeconds();
            if (claims.TryGetProperty("exp", out var exp) && (exp.ValueKind != JsonValueKind.Number || exp.GetDouble() <= now)) return null;
            if (claims.TryGetProperty("nbf", out var nbf) && (nbf.ValueKind != JsonValueKind.Number || nbf.GetDouble() > now)) return null;
            return GrantsOf(claims, settings);
        }
        catch (Exception e) when (e is FormatException or JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    // A claim given either as a space-separated string (OAuth's scope) or as an array of strings.
    static List<string> Strings(JsonElement claims, params string[] names)
    {
        foreach (var name in names)
        {
            if (!claims.TryGetProperty(name, out var value)) continue;
            if (value.ValueKind == JsonValueKind.String)
                return [.. value.GetString()!.Split(' ', StringSplitOptions.RemoveEmptyEntries)];
            if (value.ValueKind == JsonValueKind.Array)
                return [.. value.EnumerateArray().Where(v => v.ValueKind == JsonValueKind.String).Select(v => v.GetString()!)];
        }
        return [];
    }

    static byte[] Base64Url(string text)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        padded += (padded.Length % 4) switch { 2 => "==", 3 => "=", 0 => "", _ => throw new FormatException() };
        return Convert.FromBase64String(padded);
    }
}
