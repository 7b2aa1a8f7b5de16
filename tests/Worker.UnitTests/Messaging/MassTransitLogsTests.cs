using System.Net.Sockets;
using Worker.Messaging;

namespace Worker.UnitTests.Messaging;

/// <summary>What MassTransit's log entries are left out for: a connection's fault is told as an outage instead.</summary>
public sealed class MassTransitLogsTests
{
    [Fact]
    public void A_refused_connection_deep_inside_MassTransits_exception_is_a_connection_fault()
    {
        var refused = new RabbitMQ.Client.Exceptions.BrokerUnreachableException(
            new AggregateException(new RabbitMQ.Client.Exceptions.ConnectFailureException("Connection failed",
                new SocketException((int)SocketError.ConnectionRefused))));
        Assert.True(MassTransitLogs.IsConnectionFault(new MassTransit.RabbitMqConnectionException("Connect failed", refused)));
        Assert.True(MassTransitLogs.ToldByTheWorker(refused));
    }

    [Fact]
    public void A_fault_in_a_command_is_not_a_connection_fault()
    {
        Assert.False(MassTransitLogs.IsConnectionFault(new InvalidOperationException("a bug")));
        Assert.False(MassTransitLogs.IsConnectionFault(new ArgumentException("bad", new FormatException())));
    }
}
