using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Npgsql;
using Worker.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Worker.IntegrationTests.Security;

/// <summary>
/// The tests' servers answer on 127.0.0.1 only, as `make run`'s do: on machines shared with other work, nothing of
/// theirs is reachable from another address of the machine. Containers publish their ports on 127.0.0.1; local
/// processes bind to it, Erlang's distribution listener included, which listens on every interface unless told
/// otherwise.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class LoopbackOnlyTests(WorkerFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task No_other_address_of_the_machine_reaches_the_servers()
    {
        var ports = new List<int> { fixture.Services.AmqpPort, new NpgsqlConnectionStringBuilder(fixture.Services.Postgres).Port };
        // A local node's distribution port (AMQP + 20000); a container keeps it in its own namespace. Not epmd's: one
        // epmd serves every Erlang node of the machine, and whoever started it first chose its address.
        if (fixture.Services.Source == ServerSource.Processes) ports.Add(fixture.Services.AmqpPort + 20000);
        foreach (var port in ports) Assert.True(await AnswersAsync(IPAddress.Loopback, port), $"nothing answers on 127.0.0.1:{port}");

        var addresses = NetworkInterface.GetAllNetworkInterfaces()
            .Where(nic => nic.OperationalStatus == OperationalStatus.Up && nic.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(nic => nic.GetIPProperties().UnicastAddresses.Select(unicast => unicast.Address))
            .Where(address => !IPAddress.IsLoopback(address) && !address.IsIPv6LinkLocal)
            .ToList();
        output.WriteLine($"other addresses: {string.Join(", ", addresses)}; ports: {string.Join(", ", ports)}");
        foreach (var address in addresses)
        {
            foreach (var port in ports)
                Assert.False(await AnswersAsync(address, port), $"{address}:{port} answers; only 127.0.0.1 should");
        }
    }

    static async Task<bool> AnswersAsync(IPAddress address, int port)
    {
        using var client = new TcpClient(address.AddressFamily);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await client.ConnectAsync(address, port, timeout.Token);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return false;
        }
    }
}
