using System.Diagnostics;

namespace Worker.IntegrationTests.Infrastructure;

/// <summary>
/// A server's loopback port made silent, as a network that drops packets makes it: iptables DROP rules on every packet
/// of a connection to that port, both ways, and nothing closed. The rules match the connection's original destination
/// port (conntrack), so they hold for a server listening on the port itself and for a container whose port the engine
/// forwards (podman's and Docker's DNAT). Each rule carries a comment naming the run, so that scripts/test.sh removes
/// what a crashed run left. Needs root and the iptables command (scripts/local-services.sh install).
/// </summary>
public sealed class BlackHole : IAsyncDisposable
{
    public const string CommentPrefix = "worker-tests";

    readonly int _port;
    bool _open = true;

    BlackHole(int port) => _port = port;

    public static async Task<BlackHole> OpenAsync(int port)
    {
        var hole = new BlackHole(port);
        foreach (var chain in Chains) await IptablesAsync("-I", chain, hole.Rule());
        return hole;
    }

    // OUTPUT takes the client's packets, DNAT'ed or not; INPUT a container's answers, which come in over its bridge.
    static readonly string[] Chains = ["OUTPUT", "INPUT"];

    string[] Rule() =>
    [
        "-p", "tcp", "-m", "conntrack", "--ctorigdstport", _port.ToString(),
        "-m", "comment", "--comment", $"{CommentPrefix} {Environment.GetEnvironmentVariable("WORKER_IT_RUN") ?? "local"}",
        "-j", "DROP",
    ];

    /// <summary>Takes the rules away again: the packets flow, and TCP's retransmissions get through.</summary>
    public async Task CloseAsync()
    {
        if (!_open) return;
        _open = false;
        foreach (var chain in Chains) await IptablesAsync("-D", chain, Rule());
    }

    public async ValueTask DisposeAsync() => await CloseAsync();

    static async Task IptablesAsync(string action, string chain, string[] rule)
    {
        var command = File.Exists("/usr/sbin/iptables") ? "/usr/sbin/iptables" : "iptables";
        var start = new ProcessStartInfo(command) { RedirectStandardError = true, RedirectStandardOutput = true };
        // -w: wait for the xtables lock that podman's own rule changes may hold.
        foreach (var argument in (string[])["-w", action, chain, .. rule]) start.ArgumentList.Add(argument);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"iptables cannot be run here ({e.Message}); the black-hole tests need it, as root", e);
        }
        using (process)
        {
            var errors = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"iptables {action} {chain} failed ({process.ExitCode}): {errors.Trim()}");
        }
    }
}
