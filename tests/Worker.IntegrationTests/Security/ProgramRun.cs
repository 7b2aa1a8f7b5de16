using System.Diagnostics;

namespace Worker.IntegrationTests.Security;

/// <summary>One of the built programs (Worker.dll, Publisher.dll) run to its end with the given settings.</summary>
public static class ProgramRun
{
    public static async Task<(int ExitCode, string Output, string Errors)> RunAsync(string dll, string[] arguments,
        IDictionary<string, string> settings, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, dll));
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        // Only what the test gives: no connection string of the test run's own environment leaks in.
        start.Environment.Remove("ConnectionStrings__RabbitMq");
        start.Environment.Remove("ConnectionStrings__Postgres");
        foreach (var (key, value) in settings) start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{dll} {string.Join(' ', arguments)} did not end:\n{await output}\n{await errors}");
        }
        return (process.ExitCode, await output, await errors);
    }
}
