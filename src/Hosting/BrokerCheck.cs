using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Hosting;

/// <summary>
/// Makes sure the broker answers and lets a program in before its bus starts: MassTransit would otherwise retry a
/// wrong address, a refused login, a refused certificate or a missing permission forever, logging each time, while
/// the program looks as if it runs.
/// </summary>
public static class BrokerCheck
{
    /// <summary>
    /// Returns once the broker (any of its cluster nodes, when given as <c>host:port,...</c>) lets a connection in,
    /// opens a channel on its virtual host and lets <paramref name="probe"/> do what it needs to; throws a
    /// <see cref="StartupFailure"/> otherwise.
    /// </summary>
    public static async Task WaitAsync(BrokerConnection broker, TimeSpan wait, ILogger? logger, CancellationToken cancellationToken,
        string? clusterNodes = null, Func<IChannel, Task>? probe = null, string clientName = "start-check")
    {
        var factory = broker.Factory(clientName);
        var nodes = string.IsNullOrWhiteSpace(clusterNodes) ? null
            : new[] { new AmqpTcpEndpoint(broker.Address, factory.Ssl) }.Concat(clusterNodes
                .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(node => new AmqpTcpEndpoint(node.Split(':')[0],
                    node.Contains(':') ? int.Parse(node.Split(':')[1]) : broker.Address.Port, factory.Ssl))).ToList();
        var until = DateTime.UtcNow + wait;
        while (true)
        {
            try
            {
                await using var connection = nodes is null
                    ? await factory.CreateConnectionAsync(cancellationToken)
                    : await factory.CreateConnectionAsync(nodes, cancellationToken);
                await using var channel = await OpenChannelAsync(connection, cancellationToken);
                if (probe is not null) await probe(channel);
                return;
            }
            catch (Exception e) when (BrokerConnection.IsTlsRefusal(e))
            {
                throw new StartupFailure($"RabbitMQ at {BrokerConnection.Redacted(broker.Address)} was refused over TLS: " +
                    $"{broker.LastRefusal ?? "the broker ended the handshake (" + e.GetBaseException().Message + ")"}; check " +
                    $"{BrokerConnection.TlsSection}__CaFile, {BrokerConnection.TlsSection}__ServerName, " +
                    $"{BrokerConnection.TlsSection}__ClientCertificateFile and the host of ConnectionStrings__RabbitMq",
                    StartupFailure.TlsRefused, e);
            }
            catch (BrokerUnreachableException e) when (e.InnerException is AuthenticationFailureException
                                                            or PossibleAuthenticationFailureException)
            {
                throw Failure(broker, "refused the login", e);
            }
            catch (Exception e) when (Refusal(e) is { } refusal)
            {
                throw new StartupFailure($"RabbitMQ at {BrokerConnection.Redacted(broker.Address)} refused: {refusal}; " +
                    "grant the permissions docs/security.md lists to the user of ConnectionStrings__RabbitMq",
                    StartupFailure.NoPermission, e);
            }
            catch (BrokerUnreachableException e) when (DateTime.UtcNow < until)
            {
                logger?.LogWarning("RabbitMQ at {Broker} is not reachable yet ({Reason}); trying again",
                    BrokerConnection.Redacted(broker.Address), e.GetBaseException().Message);
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
            catch (BrokerUnreachableException e)
            {
                throw Failure(broker, $"did not answer within {wait.TotalSeconds:F0} s ({e.GetBaseException().Message})", e);
            }
            catch (OperationInterruptedException e)
            {
                throw Failure(broker, $"refused the connection ({e.ShutdownReason?.ReplyText ?? e.Message})", e);
            }
        }
    }

    /// <summary>
    /// A channel on the connection. A virtual host the user may not use is refused only after the connection opened:
    /// the broker closes it, and the channel's opening, which would otherwise wait for its full timeout, ends with the
    /// broker's reason.
    /// </summary>
    static async Task<IChannel> OpenChannelAsync(IConnection connection, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        connection.ConnectionShutdownAsync += (_, _) =>
        {
            timeout.Cancel();
            return Task.CompletedTask;
        };
        try
        {
            return await connection.CreateChannelAsync(cancellationToken: timeout.Token);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested && connection.CloseReason is { } reason)
        {
            throw new OperationInterruptedException(reason);
        }
    }

    /// <summary>
    /// The broker's own words when it refused a virtual host or a permission (ACCESS_REFUSED, NOT_ALLOWED): they name
    /// the resource, the permission and the user, e.g. <c>configure access to queue 'x' in vhost '/' refused for user
    /// 'worker'</c>.
    /// </summary>
    public static string? Refusal(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            // AlreadyClosedException, for a channel the broker closed, is one too.
            var reason = (e as OperationInterruptedException)?.ShutdownReason;
            if (reason is not { ReplyCode: Constants.AccessRefused or Constants.NotAllowed }) continue;
            var text = reason.ReplyText.Replace("ACCESS_REFUSED - ", "").Replace("NOT_ALLOWED - ", "");
            return Permission(reason.ClassId, reason.MethodId, text) is { } permission ? $"{permission} {text}" : text;
        }
        return null;
    }

    /// <summary>
    /// Which permission the refused method needs, as RabbitMQ's access control table has it: the broker names the
    /// resource but not the permission.
    /// </summary>
    static string? Permission(ushort classId, ushort methodId, string text)
    {
        var onQueue = text.StartsWith("access to queue", StringComparison.Ordinal);
        return (classId, methodId) switch
        {
            (40, 10) or (40, 20) or (50, 10) or (50, 40) => "configure",    // exchange.declare/delete, queue.declare/delete
            (50, 20) or (50, 50) => onQueue ? "write" : "read",            // queue.bind/unbind: the queue, the exchange
            (40, 30) or (40, 40) => "write or read",                         // exchange.bind/unbind
            (60, 40) => "write",                                             // basic.publish
            (60, 20) or (60, 70) or (50, 30) => "read",                      // basic.consume/get, queue.purge
            _ => null,
        };
    }

    static StartupFailure Failure(BrokerConnection broker, string what, Exception e) => new(
        $"RabbitMQ at {BrokerConnection.Redacted(broker.Address)} {what}; check ConnectionStrings__RabbitMq",
        StartupFailure.ServiceUnavailable, e);
}
