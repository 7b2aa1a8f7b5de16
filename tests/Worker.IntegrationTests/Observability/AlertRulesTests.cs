using System.Diagnostics;
using Worker.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Worker.IntegrationTests.Observability;

/// <summary>
/// deploy/update-worker-alerts.yml checked by promtool (Debian's prometheus package, which `make test` installs) and
/// unit-tested with its own tests, deploy/update-worker-alerts.test.yml: each alert fires on what should fire it, with
/// its labels and words, and not before its time nor on what should not.
/// </summary>
public sealed class AlertRulesTests(ITestOutputHelper output)
{
    static async Task<(int ExitCode, string Output)> PromtoolAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("promtool")
        {
            WorkingDirectory = Path.Combine(LocalServices.RepositoryRoot(), "deploy"),
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    [Fact]
    public async Task The_alert_rules_are_valid_and_pass_their_unit_tests()
    {
        var (checkedCode, check) = await PromtoolAsync("check", "rules", "update-worker-alerts.yml");
        output.WriteLine(check);
        Assert.Equal(0, checkedCode);
        Assert.Contains("SUCCESS: 7 rules found", check);

        var (testedCode, tested) = await PromtoolAsync("test", "rules", "update-worker-alerts.test.yml");
        output.WriteLine(tested);
        Assert.Equal(0, testedCode);
        Assert.Contains("SUCCESS", tested);
    }

    [Fact]
    public async Task The_rule_tests_fail_when_a_rule_changes()
    {
        // The tests can fail: with one threshold moved, promtool reports the alert that no longer fires as expected.
        var folder = Directory.CreateTempSubdirectory("alerts-");
        try
        {
            var deploy = Path.Combine(LocalServices.RepositoryRoot(), "deploy");
            var rules = await File.ReadAllTextAsync(Path.Combine(deploy, "update-worker-alerts.yml"));
            Assert.Contains("worker_document_hold_oldest_seconds) > 120", rules);
            await File.WriteAllTextAsync(Path.Combine(folder.FullName, "update-worker-alerts.yml"),
                rules.Replace("worker_document_hold_oldest_seconds) > 120", "worker_document_hold_oldest_seconds) > 600"));
            File.Copy(Path.Combine(deploy, "update-worker-alerts.test.yml"), Path.Combine(folder.FullName, "update-worker-alerts.test.yml"));
            var (exitCode, said) = await PromtoolAsync("test", "rules", Path.Combine(folder.FullName, "update-worker-alerts.test.yml"));
            output.WriteLine(said);
            Assert.NotEqual(0, exitCode);
            Assert.Contains("UpdateWorkerDocumentHeld", said);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
