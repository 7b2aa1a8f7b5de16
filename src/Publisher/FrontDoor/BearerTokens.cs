using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Publisher.FrontDoor;

/// <summary>
/// Reads <c>Authorization: Bearer</c> tokens: an opaque token listed in configuration, or a JWT signed with the
/// configured HS256 key (its expiry and not-before checked when present). A JWT grants its <c>scope</c> (or
/// <c>scp</c>) and <c>enterprises</c> claims, plus what configuration lists for its subject.
/// HS256 is checked here with the framework's HMAC rather than Microsoft.IdentityModel, which refuses keys shorter
/// than 256 bits, such as the one the seed documents' sample token is signed with.
/// </summary>
public sealed class BearerTokens(IOptionsMonitor<FrontDoorOptions> options, TimeProvider clock)
{
    /// <summary>The grants of the request's token, or null when it has none that is valid.</summary>
    public Grants? Authenticate(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return null;
        var token = header[scheme.Length..].Trim();
        if (token.Length == 0) return null;

        var settings = options.CurrentValue;
        if (settings.Tokens.TryGetValue(token, out var listed)) return listed;
        return ReadJwt(token, settings);
    }

    Grants? ReadJwt(string token, FrontDoorOptions settings)
    {
        if (string.IsNullOrEmpty(settings.JwtSigningKey)) return null;
        var parts = token.Split('.');
        if (parts.Length != 3) return null;
        try
        {
            using var header = JsonDocument.Parse(Base64Url(parts[0]));
            if (!header.RootElement.TryGetProperty("alg", out var alg) || alg.GetString() != "HS256") return null;

            var expected = HMACSHA256.HashData(Encoding.UTF8.GetBytes(settings.JwtSigningKey),
                Encoding.ASCII.GetBytes($"{parts[0]}.{parts[1]}"));
            if (!CryptographicOperations.FixedTimeEquals(expected, Base64Url(parts[2]))) return null;

            using var payload = JsonDocument.Parse(Base64Url(parts[1]));
            var claims = payload.RootElement;
            var now = clock.GetUtcNow().ToUnixTimeSeconds();
            if (claims.TryGetProperty("exp", out var exp) && (exp.ValueKind != JsonValueKind.Number || exp.GetDouble() <= now)) return null;
            if (claims.TryGetProperty("nbf", out var nbf) && (nbf.ValueKind != JsonValueKind.Number || nbf.GetDouble() > now)) return null;

            var own = new Grants { Scopes = Strings(claims, "scope", "scp"), Enterprises = Strings(claims, "enterprises") };
            var subject = claims.TryGetProperty("sub", out var sub) && sub.ValueKind == JsonValueKind.String ? sub.GetString() : null;
            return Grants.Merge(own, subject is null ? null : settings.Subjects.GetValueOrDefault(subject));
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
