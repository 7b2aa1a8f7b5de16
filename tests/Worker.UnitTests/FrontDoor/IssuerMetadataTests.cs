using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.Protocols;
using Publisher.FrontDoor;

namespace Worker.UnitTests.FrontDoor;

public sealed class IssuerMetadataTests
{
    /// <summary>An issuer whose metadata and JWKS are served from memory, counting the JWKS fetches.</summary>
    sealed class Issuer : IDocumentRetriever
    {
        public int KeyFetches;
        public TaskCompletionSource? Hold;

        public async Task<string> GetDocumentAsync(string address, CancellationToken cancel)
        {
            if (!address.EndsWith("/jwks")) return """{"issuer": "https://issuer.example", "jwks_uri": "https://issuer.example/jwks"}""";
            Interlocked.Increment(ref KeyFetches);
            if (Hold is { } hold) await hold.Task;
            return """{"keys": []}""";
        }
    }

    static (IssuerMetadata, Issuer, FakeTimeProvider) Make()
    {
        var issuer = new Issuer();
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-07T12:00:00Z"));
        return (new IssuerMetadata("https://issuer.example/.well-known/openid-configuration", issuer, clock), issuer, clock);
    }

    [Fact]
    public async Task Requests_at_the_same_time_share_one_fetch()
    {
        var (metadata, issuer, _) = Make();
        issuer.Hold = new TaskCompletionSource();
        var fetches = Enumerable.Range(0, 10).Select(_ => metadata.FetchAsync()).ToList();
        issuer.Hold.SetResult();
        var results = await Task.WhenAll(fetches);

        Assert.Equal(1, issuer.KeyFetches);
        Assert.All(results, result => Assert.Same(results[0], result));
    }

    [Fact]
    public async Task A_fetch_again_within_a_second_is_the_last_one_and_after_it_a_new_one()
    {
        var (metadata, issuer, clock) = Make();
        var first = await metadata.FetchAsync();
        clock.Advance(IssuerMetadata.MinimumInterval - TimeSpan.FromMilliseconds(1));
        Assert.Same(first, await metadata.FetchAsync());
        Assert.Equal(1, issuer.KeyFetches);

        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.NotSame(first, await metadata.FetchAsync());
        Assert.Equal(2, issuer.KeyFetches);
    }

    [Fact]
    public async Task The_keys_are_kept_until_they_are_too_old()
    {
        var (metadata, issuer, clock) = Make();
        var first = await metadata.CurrentAsync();
        clock.Advance(IssuerMetadata.MaximumAge - TimeSpan.FromSeconds(1));
        Assert.Same(first, await metadata.CurrentAsync());
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.NotSame(first, await metadata.CurrentAsync());
        Assert.Equal(2, issuer.KeyFetches);
    }
}
