using System.CommandLine;
using Hosting;

namespace Publisher.FrontDoor;

/// <summary><c>serve</c>: runs the documented HTTP endpoints in front of the worker's queues.</summary>
public static class FrontDoorCommand
{
    public static Command Build()
    {
        var urls = new Option<string>("--urls")
        {
            Description = "Where to listen, separated by ';'", DefaultValueFactory = _ => "http://127.0.0.1:8080",
        };
        var rabbitMq = new Option<string>("--rabbitmq")
        {
            Description = "AMQP URI of the broker (default: ConnectionStrings__RabbitMq, else amqp://guest:guest@127.0.0.1:5672/)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ConnectionStrings__RabbitMq") ?? BrokerCheck.DefaultConnectionString,
        };
        var command = new Command("serve", "Serves the documented HTTP APIs, each request answered by the worker") { urls, rabbitMq };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var app = await FrontDoorApp.BuildAsync(parse.GetValue(urls)!.Split(';'), parse.GetValue(rabbitMq)!);
            try
            {
                await app.StartAsync(cancellationToken);
            }
            catch (IOException e)
            {
                // Kestrel: "Failed to bind to address ...: address already in use."
                throw new StartupFailure($"serve cannot listen on {parse.GetValue(urls)} ({e.Message.TrimEnd('.')}); " +
                    "choose a free address with --urls", StartupFailure.CannotListen, e);
            }
            await app.WaitForShutdownAsync(cancellationToken);
            return 0;
        });
        return command;
    }
}
