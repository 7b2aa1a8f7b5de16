using Hosting;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.Startup;

/// <summary>
/// A worker, publisher or front door that cannot start says why in one line naming the setting to change, and
/// exits with the code docs/operations.md documents; no stack trace for these expected cases.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed partial class StartupFailureTests(WorkerFixture fixture)
{
    const string Unreachable = "amqp://guest:guest@127.0.0.1:1/";

    Dictionary<string, string> Working() => new()
    {
        ["ConnectionStrings__RabbitMq"] = fixture.Services.RabbitMq,
        ["ConnectionStrings__Postgres"] = fixture.Services.Postgres,
        ["Health__Urls"] = "http://127.0.0.1:0",
        ["Startup__WaitForServices"] = "00:00:01",
    };

    [Fact]
    public async Task A_taken_health_port_ends_the_worker_with_74_naming_Health_Urls()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var settings = Working();
        settings["Health__Urls"] = $"http://127.0.0.1:{((IPEndPoint)taken.LocalEndpoint).Port}";
        await AssertOneLineAsync("Worker.dll", [], settings, StartupFailure.CannotListen, "Health__Urls");
    }

    [Fact]
    public async Task An_unreachable_broker_ends_the_worker_with_69_naming_its_connection_string()
    {
        var settings = Working();
        settings["ConnectionStrings__RabbitMq"] = Unreachable;
        var line = await AssertOneLineAsync("Worker.dll", [], settings, StartupFailure.ServiceUnavailable, "ConnectionStrings__RabbitMq");
        Assert.Contains("guest:***@", line);
    }

    [Theory]
    [InlineData("amqp://s3cret-pass@127.0.0.1:1/")]
    [InlineData("amqp://guest:s3cret-pass@127.0.0.1:1/")]
    [InlineData("amqp://guest:s3cret%2Dpass@127.0.0.1:1/")]
    public async Task No_form_of_broker_URI_shows_its_password(string uri)
    {
        var settings = Working();
        settings["ConnectionStrings__RabbitMq"] = uri;
        var line = await AssertOneLineAsync("Worker.dll", [], settings, StartupFailure.ServiceUnavailable, "ConnectionStrings__RabbitMq");
        Assert.DoesNotContain("s3cret", line);
        Assert.Contains("***@127.0.0.1:1", line);
    }

    [Fact]
    public async Task A_refused_broker_login_ends_the_worker_with_69()
    {
        var settings = Working();
        settings["ConnectionStrings__RabbitMq"] = fixture.Services.RabbitMq.Replace("guest:guest@", "guest:wrong@");
        var line = await AssertOneLineAsync("Worker.dll", [], settings, StartupFailure.ServiceUnavailable, "ConnectionStrings__RabbitMq");
        Assert.Contains("refused the login", line);
        Assert.DoesNotContain("wrong", line);
    }

    [Fact]
    public async Task An_unreachable_database_ends_the_worker_with_69_naming_its_connection_string()
    {
        var settings = Working();
        settings["ConnectionStrings__Postgres"] = "Host=127.0.0.1;Port=1;Database=worker;Username=postgres";
        await AssertOneLineAsync("Worker.dll", [], settings, StartupFailure.ServiceUnavailable, "ConnectionStrings__Postgres");
    }

    [Theory]
    [InlineData("ConnectionStrings__RabbitMq", "not a uri", "ConnectionStrings__RabbitMq")]
    [InlineData("ConnectionStrings__RabbitMq", "http://127.0.0.1:5672/", "ConnectionStrings__RabbitMq")]
    [InlineData("ConnectionStrings__Postgres", "Host=127.0.0.1;;=x", "ConnectionStrings__Postgres")]
    [InlineData("Storage__Lanes", "0", "Storage__")]
    [InlineData("Storage__Lanes", "many", "Storage:Lanes")]
    [InlineData("Storage__Schema", "x; drop table y", "Storage:Schema")]
    [InlineData("Messaging__PrefetchCount", "-1", "Messaging:PrefetchCount")]
    [InlineData("Messaging__QueueType", "stream", "Messaging:QueueType")]
    [InlineData("Messaging__Partitions", "300", "Partitions")]
    [InlineData("Startup__WaitForServices", "soon", "Startup:WaitForServices")]
    public async Task A_malformed_setting_ends_the_worker_with_78_naming_it(string key, string value, string named)
    {
        var settings = Working();
        settings[key] = value;
        await AssertOneLineAsync("Worker.dll", [], settings, StartupFailure.BadSetting, named);
    }

    [Theory]
    [InlineData("ConnectionStrings__RabbitMq")]
    [InlineData("ConnectionStrings__Postgres")]
    public async Task A_connection_string_that_is_not_set_ends_the_start_with_78_outside_Development(string key)
    {
        var settings = Working();
        settings.Remove(key);
        var line = await AssertOneLineAsync("Worker.dll", [], settings, StartupFailure.BadSetting, key + "_FILE");
        Assert.Contains("is not set", line);
    }

    [Fact]
    public async Task The_publisher_says_in_one_line_that_the_broker_does_not_answer()
    {
        await AssertOneLineAsync("Publisher.dll",
            ["lead-segment", "update", "--enterprise", "acme", "--id", "1", "--code", "X", "--rabbitmq", Unreachable],
            [], StartupFailure.ServiceUnavailable, "ConnectionStrings__RabbitMq", program: "publisher");
    }

    [Fact]
    public async Task The_front_door_says_in_one_line_that_its_address_is_taken()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        await AssertOneLineAsync("Publisher.dll",
            ["serve", "--urls", $"http://127.0.0.1:{((IPEndPoint)taken.LocalEndpoint).Port}", "--metrics-urls", "",
                "--rabbitmq", fixture.Services.RabbitMq],
            new() { ["FrontDoor__JwtSigningKey"] = new string('k', 32), ["FrontDoor__Audience"] = "worker" },
            StartupFailure.CannotListen, "--urls", program: "publisher");
    }

    [Fact]
    public async Task The_front_door_refuses_to_start_without_a_token_issuer_in_one_line()
    {
        var line = await AssertOneLineAsync("Publisher.dll", ["serve", "--urls", "http://127.0.0.1:0", "--rabbitmq", fixture.Services.RabbitMq],
            [], StartupFailure.BadSetting, "FrontDoor__Authority", program: "publisher");
        Assert.Contains("FrontDoor__JwtSigningKey", line);
    }

    /// <summary>Runs the program to its end and returns its one line on standard error.</summary>
    internal static async Task<string> AssertOneLineAsync(string dll, string[] arguments, Dictionary<string, string> settings,
        int exitCode, string named, string program = "worker")
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, dll));
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (key, value) in settings) start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        var all = await output + await errors;

        Assert.True(exitCode == process.ExitCode, $"exit code {process.ExitCode}, expected {exitCode}:\n{all}");
        var lines = (await errors).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines, l => l.StartsWith($"{program}: "));
        Assert.Contains(named, line);
        Assert.DoesNotMatch(StackFrame(), all);
        Assert.DoesNotContain("Exception", all);
        return line;
    }

    [GeneratedRegex(@"(?m)^\s+at \S+\(")]
    private static partial Regex StackFrame();
}
