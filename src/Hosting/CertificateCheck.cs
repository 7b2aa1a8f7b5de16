using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace Hosting;

/// <summary>
/// Why a server's certificate is not to be trusted, in words an operator can act on: the TLS libraries say only that
/// it was rejected.
/// </summary>
public static class CertificateCheck
{
    /// <summary>
    /// Null when the certificate is for <paramref name="serverName"/>, in date, and chains to <paramref name="trustedRoots"/>
    /// (the system's CAs when null); otherwise why not. Revocation is not checked online: that would contact the
    /// CA's servers, which the operator did not configure.
    /// </summary>
    public static string? Refusal(string serverName, X509Certificate2Collection? trustedRoots, string trustedRootsName,
        X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
            return "the server presented no certificate";
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            return $"its certificate is not for the name {serverName} (name mismatch)";
        using var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (trustedRoots is not null)
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(trustedRoots);
        }
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements) chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        }
        using var leaf = new X509Certificate2(certificate);
        if (chain.Build(leaf)) return null;
        var status = chain.ChainStatus.Select(s => s.Status).Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s);
        var trusted = trustedRoots is null ? "the system's trusted CAs" : trustedRootsName;
        if (status.HasFlag(X509ChainStatusFlags.NotTimeValid))
            return $"its certificate (or one of its CAs) has expired or is not yet valid (valid until {leaf.NotAfter:u})";
        if (status.HasFlag(X509ChainStatusFlags.UntrustedRoot) || status.HasFlag(X509ChainStatusFlags.PartialChain))
            return $"its certificate is not signed by {trusted} (untrusted chain)";
        return $"its certificate is not valid ({string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()))})";
    }

    /// <summary>
    /// Why PostgreSQL's certificate fails verification (Npgsql says only that it was rejected): asks for TLS as a
    /// client does and checks what the server presents against <paramref name="rootCertificate"/>.
    /// </summary>
    public static async Task<string?> PostgresRefusalAsync(string host, int port, string? rootCertificate, CancellationToken cancellationToken)
    {
        try
        {
            X509Certificate2Collection? roots = null;
            if (!string.IsNullOrEmpty(rootCertificate))
            {
                roots = [];
                roots.ImportFromPemFile(rootCertificate);
            }
            using var client = new TcpClient();
            await client.ConnectAsync(host, port, cancellationToken);
            var stream = client.GetStream();
            // SSLRequest: length 8, then the code 80877103; the server answers 'S' when it speaks TLS.
            var request = new byte[8];
            BinaryPrimitives.WriteInt32BigEndian(request, 8);
            BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(4), 80877103);
            await stream.WriteAsync(request, cancellationToken);
            var answer = new byte[1];
            if (await stream.ReadAsync(answer, cancellationToken) != 1 || answer[0] != 'S') return "the server does not speak TLS";
            string? refusal = null;
            await using var tls = new SslStream(stream, leaveInnerStreamOpen: false, (_, certificate, chain, errors) =>
            {
                refusal = Refusal(host, roots, "the Root Certificate of ConnectionStrings:Postgres", certificate, chain, errors);
                return false;
            });
            try
            {
                await tls.AuthenticateAsClientAsync(host);
            }
            catch (System.Security.Authentication.AuthenticationException)
            {
                // Refused by the callback above, which says why.
            }
            return refusal;
        }
        catch (Exception e) when (e is IOException or SocketException or System.Security.Cryptography.CryptographicException)
        {
            return null;
        }
    }
}
