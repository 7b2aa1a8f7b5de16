using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;

namespace Publisher.FrontDoor;

/// <summary>
/// An OpenID Connect issuer's metadata and signing keys: fetched when first needed, again once they are
/// <see cref="MaximumAge"/> old, and again at once when a token names a key they lack. Microsoft.IdentityModel's
/// ConfigurationManager refreshes in the background on request and answers the request that asked with the old keys,
/// so the first token after a key rotation was refused; here the request waits for the keys fetched for it. At most
/// one fetch starts per <see cref="MinimumInterval"/>, and every request in that time shares it, so tokens naming
/// unknown keys cannot make serve hammer the issuer.
/// </summary>
public sealed class IssuerMetadata(string address, IDocumentRetriever documents, TimeProvider clock)
{
    public static readonly TimeSpan MinimumInterval = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaximumAge = TimeSpan.FromHours(12);

    readonly Lock _lock = new();
    Task<OpenIdConnectConfiguration?>? _fetch;
    DateTimeOffset _fetchStarted;
    (OpenIdConnectConfiguration Metadata, DateTimeOffset At)? _good;

    /// <summary>The keys known, fetched first if there are none or they are too old; null when the issuer cannot be read.</summary>
    public async Task<OpenIdConnectConfiguration?> CurrentAsync()
    {
        if (_good is { } good && clock.GetUtcNow() - good.At < MaximumAge) return good.Metadata;
        // An issuer that cannot be read keeps the keys it gave last.
        return await FetchAsync() ?? _good?.Metadata;
    }

    /// <summary>The keys fetched again now, or by a fetch started less than <see cref="MinimumInterval"/> ago.</summary>
    public Task<OpenIdConnectConfiguration?> FetchAsync()
    {
        lock (_lock)
        {
            var now = clock.GetUtcNow();
            if (_fetch is null || now - _fetchStarted >= MinimumInterval)
            {
                _fetchStarted = now;
                _fetch = FetchFromIssuerAsync();
            }
            return _fetch;
        }
    }

    async Task<OpenIdConnectConfiguration?> FetchFromIssuerAsync()
    {
        try
        {
            // Not the request's token: a fetch that requests share must not end with the one that started it.
            var metadata = await OpenIdConnectConfigurationRetriever.GetAsync(address, documents, CancellationToken.None);
            _good = (metadata, clock.GetUtcNow());
            return metadata;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Unreachable, not JSON, not metadata: nothing new to check tokens against.
            return null;
        }
    }
}
