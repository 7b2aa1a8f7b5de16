using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Hosting;

/// <summary>
/// Makes sure the broker answers and lets a program in before its bus starts: MassTransit would otherwise retry a
/// wrong address or a refused login forever, logging a warning each time, while the program looks as if it runs.
/// </summary>
public static class BrokerCheck
{
    public const string DefaultConnectionString = "amqp://guest:guest@127.0.0.1:5672/";

    /// <summary>The broker's address from <c>ConnectionStrings:RabbitMq</c>; a malformed one is a <see cref="StartupFailure"/>.</summary>
    public static Uri Address(string connectionString)
    {
        if (Uri.TryCreate(connectionString, UriKind.Absolute, out var uri) && uri.Scheme is "amqp" or "amqps"
            && !string.IsNullOrEmpty(uri.Host))
            return uri;
        throw new StartupFailure("ConnectionStrings:RabbitMq is not an AMQP URI; set ConnectionStrings__RabbitMq, " +
            $"e.g. {DefaultConnectionString}", StartupFailure.BadSetting);
    }

    /// <summary>
    /// Returns once the broker (any of its cluster nodes, when given as <c>host:port,...</c>) lets a connection in;
    /// throws a <see cref="StartupFailure"/> otherwise.
    /// </summary>
    public static async Task WaitAsync(Uri broker, TimeSpan wait, ILogger? logger, CancellationToken cancellationToken,
        string? clusterNodes = null)
    {
        var factory = new ConnectionFactory { Uri = broker, ClientProvidedName = "worker-start-check" };
        var nodes = string.IsNullOrWhiteSpace(clusterNodes) ? null
            : new[] { new AmqpTcpEndpoint(broker) }.Concat(clusterNodes
                .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(node => AmqpTcpEndpoint.Parse(node))).ToList();
        var until = DateTime.UtcNow + wait;
        while (true)
        {
            try
            {
                await using var connection = nodes is null
                    ? await factory.CreateConnectionAsync(cancellationToken)
                    : await factory.CreateConnectionAsync(nodes, cancellationToken);
                return;
            }
            catch (BrokerUnreachableException e) when (e.InnerException is AuthenticationFailureException
                                                            or PossibleAuthenticationFailureException)
            {
                throw Failure(broker, "refused the login", e);
            }
            catch (BrokerUnreachableException e) when (DateTime.UtcNow < until)
            {
                logger?.LogWarning("RabbitMQ at {Broker} is not reachable yet ({Reason}); trying again",
                    StartupFailure.Redacted(broker), e.GetBaseException().Message);
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
            catch (BrokerUnreachableException e)
            {
                throw Failure(broker, $"did not answer within {wait.TotalSeconds:F0} s ({e.GetBaseException().Message})", e);
            }
            catch (OperationInterruptedException e)
            {
                // For example a virtual host that does not exist.
                throw Failure(broker, $"refused the connection ({e.ShutdownReason?.ReplyText ?? e.Message})", e);
            }
        }
    }

    static StartupFailure Failure(Uri broker, string what, Exception e) => new(
        $"RabbitMQ at {StartupFailure.Redacted(broker)} {what}; check ConnectionStrings__RabbitMq",
        StartupFailure.ServiceUnavailable, e);
}
