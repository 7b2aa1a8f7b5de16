using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MassTransit;
using Microsoft.Extensions.Configuration;
using RabbitMQ.Client;

namespace Hosting;

/// <summary>
/// The broker as the operator configured it: its address (<c>ConnectionStrings:RabbitMq</c>) and, for
/// <c>amqps://</c> on any port, TLS whose server certificate is verified, chain and host name, by every connection a
/// program makes: the start-up check, MassTransit's bus and the publisher alike. Neither RabbitMQ.Client (which lets
/// a name mismatch pass for amqps URIs) nor MassTransit (which lets an untrusted chain pass, and turns TLS on only
/// for port 5671) is left to its defaults.
/// <list type="bullet">
/// <item><c>RabbitMqTls:CaFile</c>: PEM file of the CA(s) to trust instead of the system's.</item>
/// <item><c>RabbitMqTls:ClientCertificateFile</c> and <c>RabbitMqTls:ClientKeyFile</c>: PEM certificate and key
/// for mutual TLS.</item>
/// <item><c>RabbitMqTls:ServerName</c>: the name the certificate must carry, when it is not the host's.</item>
/// </list>
/// Revocation is not checked online: that would contact the CA's servers, which the operator did not configure.
/// </summary>
public sealed class BrokerConnection
{
    public const string TlsSection = "RabbitMqTls";
    public const string DefaultConnectionString = "amqp://guest:guest@127.0.0.1:5672/";

    readonly X509Certificate2Collection? _trustedRoots;
    readonly X509Certificate2? _clientCertificate;
    volatile string? _lastRefusal;

    BrokerConnection(Uri address, string serverName, X509Certificate2Collection? trustedRoots,
        X509Certificate2? clientCertificate)
    {
        Address = address;
        ServerName = serverName;
        _trustedRoots = trustedRoots;
        _clientCertificate = clientCertificate;
    }

    public Uri Address { get; }
    public bool UsesTls => Address.Scheme == "amqps";
    public string ServerName { get; }

    /// <summary>Why the broker's certificate was last refused, for the one line that ends a start.</summary>
    public string? LastRefusal => _lastRefusal;

    /// <summary>
    /// The broker of <paramref name="configuration"/> (or <paramref name="connectionString"/> when given), with its
    /// TLS settings; a missing or malformed setting is a <see cref="StartupFailure"/>.
    /// </summary>
    public static BrokerConnection From(IConfiguration configuration, bool development, string? connectionString = null)
    {
        var address = Parse(connectionString ?? OperatorSettings.RequiredConnectionString(configuration, "RabbitMq",
            DefaultConnectionString, development));
        var tls = configuration.GetSection(TlsSection);
        X509Certificate2Collection? roots = null;
        if (tls["CaFile"] is { Length: > 0 } caFile)
        {
            roots = new X509Certificate2Collection();
            try
            {
                roots.ImportFromPemFile(caFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
            {
                throw new StartupFailure($"{TlsSection}:CaFile {caFile} cannot be read as PEM certificates ({e.Message.TrimEnd('.')})",
                    StartupFailure.BadSetting, e);
            }
            if (roots.Count == 0)
                throw new StartupFailure($"{TlsSection}:CaFile {caFile} holds no PEM certificate", StartupFailure.BadSetting);
        }
        X509Certificate2? client = null;
        if (tls["ClientCertificateFile"] is { Length: > 0 } certificateFile)
        {
            try
            {
                client = X509Certificate2.CreateFromPemFile(certificateFile, tls["ClientKeyFile"] is { Length: > 0 } key ? key : null);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
            {
                throw new StartupFailure($"{TlsSection}:ClientCertificateFile {certificateFile} (with ClientKeyFile) cannot be " +
                    $"read as a PEM certificate and key ({e.Message.TrimEnd('.')})", StartupFailure.BadSetting, e);
            }
        }
        var serverName = tls["ServerName"] is { Length: > 0 } name ? name : address.Host;
        return new BrokerConnection(address, serverName, roots, client);
    }

    /// <summary>The broker's address; a malformed one is a <see cref="StartupFailure"/>.</summary>
    public static Uri Parse(string connectionString)
    {
        if (Uri.TryCreate(connectionString, UriKind.Absolute, out var uri) && uri.Scheme is "amqp" or "amqps"
            && !string.IsNullOrEmpty(uri.Host))
            return uri;
        throw new StartupFailure("ConnectionStrings:RabbitMq is not an AMQP URI; set ConnectionStrings__RabbitMq, " +
            $"e.g. amqps://user:password@broker.example:5671/", StartupFailure.BadSetting);
    }

    /// <summary>Settings for a RabbitMQ.Client connection.</summary>
    public ConnectionFactory Factory(string clientName)
    {
        var factory = new ConnectionFactory { Uri = Address, ClientProvidedName = clientName };
        if (!UsesTls) return factory;
        factory.Ssl = new SslOption
        {
            Enabled = true, ServerName = ServerName, AcceptablePolicyErrors = SslPolicyErrors.None,
            CertificateValidationCallback = Verify,
            Certs = _clientCertificate is null ? null : [_clientCertificate],
        };
        return factory;
    }

    /// <summary>The same settings for MassTransit's bus.</summary>
    public void ApplyTo(IRabbitMqHostConfigurator host)
    {
        if (!UsesTls) return;
        host.UseSsl(ssl =>
        {
            ssl.ServerName = ServerName;
            ssl.EnforcePolicyErrors(SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch
                | SslPolicyErrors.RemoteCertificateNotAvailable);
            ssl.CertificateValidationCallback = Verify;
            if (_clientCertificate is not null) ssl.Certificate = _clientCertificate;
        });
    }

    /// <summary>
    /// Accepts the broker's certificate only when it is for <see cref="ServerName"/>, in date, and chains to a trusted
    /// CA (the CA file's, or the system's without one); otherwise records why, for <see cref="LastRefusal"/>.
    /// </summary>
    public bool Verify(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        var refusal = Refusal(certificate, chain, errors);
        if (refusal is not null) _lastRefusal = refusal;
        return refusal is null;
    }

    string? Refusal(X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors) =>
        CertificateCheck.Refusal(ServerName, _trustedRoots, $"the CA of {TlsSection}:CaFile", certificate, presented, errors);

    /// <summary>
    /// Whether an exception is a refused TLS handshake: refused here (the server's certificate), or by the server,
    /// which says so with a TLS alert (a client certificate it requires, say) that OpenSSL reports.
    /// </summary>
    public static bool IsTlsRefusal(Exception e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
            if (inner is AuthenticationException || inner.Message.Contains("SSL routines::", StringComparison.Ordinal)) return true;
        return false;
    }

    /// <summary>A connection string as it may be shown: any password, or user info that may be one, replaced.</summary>
    public static string Redacted(Uri broker)
    {
        if (string.IsNullOrEmpty(broker.UserInfo)) return broker.ToString();
        var builder = new UriBuilder(broker);
        // "amqp://secret@host" is a user name to RabbitMQ.Client, but often a password meant as one.
        if (broker.UserInfo.Contains(':')) builder.Password = "***";
        else builder.UserName = "***";
        return builder.Uri.ToString();
    }
}
