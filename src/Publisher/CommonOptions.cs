using System.CommandLine;
using System.Text.Json;
using Hosting;

namespace Publisher;

/// <summary>Options every command shares: the broker, the correlation id, and waiting for the result.</summary>
public static class CommonOptions
{
    /// <summary>
    /// Seen by everyone on the machine in the process list, so only for throwaway brokers: the broker's address
    /// otherwise comes from the settings (<see cref="Broker"/>).
    /// </summary>
    public static readonly Option<string?> RabbitMq = new("--rabbitmq")
    {
        Description = "AMQP URI of a test broker (visible in the process list; otherwise ConnectionStrings__RabbitMq, " +
            "ConnectionStrings__RabbitMq_FILE or /run/secrets/ConnectionStrings__RabbitMq)",
    };

    static readonly Option<string?> CorrelationId = new("--correlation-id") { Description = "Correlation id (default: a new GUID)" };

    static readonly Option<bool> Wait = new("--wait") { Description = "Wait for the result event, print it, and exit non-zero if it failed" };

    static readonly Option<int> Timeout = new("--timeout") { Description = "Seconds to wait for the result", DefaultValueFactory = _ => 30 };

    // Shown to a person: indented, and without escaping quotes or non-ASCII letters.
    static readonly JsonSerializerOptions Printing = new()
    {
        WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>
    /// The broker from --rabbitmq or the settings: environment variables, <c>_FILE</c> variables and the secrets
    /// directory, as for the worker; only in Development does a missing address mean the local broker of make run.
    /// </summary>
    public static BrokerConnection Broker(ParseResult parse)
    {
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddSecretFiles().Build();
        return BrokerConnection.From(configuration, OperatorSettings.IsDevelopment(configuration), parse.GetValue(RabbitMq));
    }

    public static void AddTo(Command command)
    {
        command.Options.Add(RabbitMq);
        command.Options.Add(CorrelationId);
        command.Options.Add(Wait);
        command.Options.Add(Timeout);
    }

    /// <summary>Sends one command; with --wait prints its result event and returns 0 on success, 1 on failure, 2 on timeout.</summary>
    public static async Task<int> SendAsync<T>(ParseResult parse, string queue, Func<string, T> build, CancellationToken cancellationToken) where T : class
    {
        var wait = parse.GetValue(Wait);
        var correlationId = parse.GetValue(CorrelationId) ?? Guid.NewGuid().ToString();
        await using var bus = await PublisherBus.StartAsync(Broker(parse), waitForAnswers: wait);
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
