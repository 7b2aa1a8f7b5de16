using System.CommandLine;
using System.Text.Json;
using Hosting;

namespace Publisher;

/// <summary>Options every command shares: the broker, the correlation id, and waiting for the result.</summary>
public static class CommonOptions
{
    static readonly Option<string> RabbitMq = new("--rabbitmq")
    {
        Description = "AMQP URI of the broker (default: ConnectionStrings__RabbitMq, else amqp://guest:guest@127.0.0.1:5672/)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ConnectionStrings__RabbitMq") ?? BrokerCheck.DefaultConnectionString,
    };

    static readonly Option<string?> CorrelationId = new("--correlation-id") { Description = "Correlation id (default: a new GUID)" };

    static readonly Option<bool> Wait = new("--wait") { Description = "Wait for the result event, print it, and exit non-zero if it failed" };

    static readonly Option<int> Timeout = new("--timeout") { Description = "Seconds to wait for the result", DefaultValueFactory = _ => 30 };

    // Shown to a person: indented, and without escaping quotes or non-ASCII letters.
    static readonly JsonSerializerOptions Printing = new()
    {
        WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void AddTo(Command command)
    {
        command.Options.Add(RabbitMq);
        command.Options.Add(CorrelationId);
        command.Options.Add(Wait);
        command.Options.Add(Timeout);
    }

    /// <summary>Sends one command; with --wait prints its result event and returns 0 on success, 1 on failure, 2 on timeout.</summary>
    public static async Task<int> SendAsync<T>(ParseResult parse, string queue, string[] resultExchanges,
        Func<string, T> build, CancellationToken cancellationToken) where T : class
    {
        var wait = parse.GetValue(Wait);
        var correlationId = parse.GetValue(CorrelationId) ?? Guid.NewGuid().ToString();
        await using var bus = await PublisherBus.StartAsync(parse.GetValue(RabbitMq)!, wait ? resultExchanges : []);
        if (!wait)
        {
            await bus.SendAsync(queue, build(correlationId), cancellationToken);
            Console.WriteLine($"sent to {queue}, correlation id {correlationId}");
            return 0;
        }
        var result = await bus.SendAndWaitAsync(queue, build(correlationId), TimeSpan.FromSeconds(parse.GetValue(Timeout)),
            cancellationToken);
        Console.WriteLine($"sent to {queue}, correlation id {correlationId}");
        if (result is null)
        {
            Console.Error.WriteLine("no result arrived in time");
            return 2;
        }
        var (exchange, view) = result.Value;
        Console.WriteLine($"{exchange}: status {view.Status}");
        Console.WriteLine(JsonSerializer.Serialize(view.Body, Printing));
        return view.Status < 400 ? 0 : 1;
    }
}
