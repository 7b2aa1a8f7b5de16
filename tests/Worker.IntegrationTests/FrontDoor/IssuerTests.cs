using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Publisher.FrontDoor;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.FrontDoor;

/// <summary>
/// serve in front of a real OpenID Connect issuer: a local one the test runs, serving its metadata and a JWKS of
/// RSA keys made here, which it rotates. serve runs outside Development, as in production.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class IssuerTests(WorkerFixture fixture) : FrontDoorScenario(fixture), IAsyncLifetime
{
    const string Audience = "update-worker";
    readonly RsaSecurityKey _first = NewKey("first");
    readonly RsaSecurityKey _second = NewKey("second");
    IReadOnlyList<RsaSecurityKey> _published = [];
    int _keyFetches;
    WebApplication _issuer = null!;
    string IssuerUrl => _issuer.Urls.First();

    static RsaSecurityKey NewKey(string id) => new(RSA.Create(2048)) { KeyId = id };

    async Task IAsyncLifetime.InitializeAsync()
    {
        _published = [_first];
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _issuer = builder.Build();
        _issuer.MapGet("/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = IssuerUrl, ["jwks_uri"] = $"{IssuerUrl}/jwks",
            ["id_token_signing_alg_values_supported"] = new[] { "RS256" },
        }));
        _issuer.MapGet("/jwks", () => Interlocked.Increment(ref _keyFetches) > 0 ? Results.Json(new Dictionary<string, object>
        {
            ["keys"] = _published.Select(key =>
            {
                var jwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(new RsaSecurityKey(key.Rsa.ExportParameters(false)) { KeyId = key.KeyId });
                return new Dictionary<string, string> { ["kty"] = "RSA", ["kid"] = jwk.Kid, ["use"] = "sig", ["alg"] = "RS256", ["n"] = jwk.N, ["e"] = jwk.E };
            }).ToList(),
        }) : Results.StatusCode(500));
        await _issuer.StartAsync();
        await Fixture.ResetAsync();
        await StartAsync(environment: "Production", new Dictionary<string, string?>
        {
            ["FrontDoor:Authority"] = IssuerUrl, ["FrontDoor:Audience"] = Audience,
        });
    }

    async Task IAsyncLifetime.DisposeAsync()
    {
        await DisposeAsync();
        await _issuer.StopAsync();
        await _issuer.DisposeAsync();
    }

    string Token(RsaSecurityKey key, string? issuer = null, string audience = Audience, bool expires = true)
    {
        var handler = new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false };
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = issuer ?? IssuerUrl, Audience = audience, IssuedAt = DateTime.UtcNow,
            Expires = expires ? DateTime.UtcNow.AddMinutes(5) : null,
            Claims = new Dictionary<string, object> { ["enterprises"] = new[] { "acme" }, ["sub"] = "svc-1" },
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
        };
        return handler.CreateToken(descriptor);
    }

    async Task<int> PatchAsync(string token) =>
        (await SendAsync(Request(HttpMethod.Patch, "/enterprises/acme/lead-segments/1234", """{"description":"issuer"}""", token))).Status;

    [Fact]
    public async Task A_token_of_the_issuer_for_this_audience_is_accepted()
    {
        Assert.Equal(200, await PatchAsync(Token(_first)));
    }

    [Fact]
    public async Task A_wrong_issuer_a_wrong_audience_and_a_token_without_expiry_are_refused()
    {
        Assert.Equal(401, await PatchAsync(Token(_first, issuer: "https://issuer.elsewhere.test")));
        Assert.Equal(401, await PatchAsync(Token(_first, audience: "another-service")));
        Assert.Equal(401, await PatchAsync(Token(_first, expires: false)));
        // Signed by a key the issuer never published.
        Assert.Equal(401, await PatchAsync(Token(NewKey("first"))));
    }

    [Fact]
    public async Task The_first_request_after_the_issuer_rotates_its_key_is_accepted_and_the_rotated_out_key_refused()
    {
        Assert.Equal(200, await PatchAsync(Token(_first)));
        _published = [_second];
        // serve fetches the keys at most once a second (IssuerMetadata.MinimumInterval); the last fetch was for the
        // request above.
        await Task.Delay(IssuerMetadata.MinimumInterval + TimeSpan.FromMilliseconds(100));

        Assert.Equal(200, await PatchAsync(Token(_second)));
        Assert.Equal(401, await PatchAsync(Token(_first)));
    }

    [Fact]
    public async Task Requests_with_a_new_key_at_the_same_time_share_one_fetch_of_the_keys()
    {
        Assert.Equal(200, await PatchAsync(Token(_first)));
        _published = [_second];
        await Task.Delay(IssuerMetadata.MinimumInterval + TimeSpan.FromMilliseconds(100));
        var before = Volatile.Read(ref _keyFetches);

        var token = Token(_second);
        var statuses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => PatchAsync(token)));

        Assert.All(statuses, status => Assert.Equal(200, status));
        Assert.Equal(1, Volatile.Read(ref _keyFetches) - before);
    }
}
