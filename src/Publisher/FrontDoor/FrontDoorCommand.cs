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
        var metrics = new Option<string>("--metrics-urls")
        {
            Description = "Where /metrics listens, apart from the APIs (empty: nowhere)", DefaultValueFactory = _ => "http://127.0.0.1:9464",
        };
        var command = new Command("serve", "Serves the documented HTTP APIs, each request answered by the worker")
        {
            urls, metrics, CommonOptions.RabbitMq,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var app = await FrontDoorApp.BuildAsync(parse.GetValue(urls)!.Split(';'), CommonOptions.Broker(parse),
                metricsUrl: parse.GetValue(metrics));
            try
            {
                await app.StartAsync(cancellationToken);
            }
            catch (IOException e)
            {
                // Kestrel: "Failed to bind to address ...: address already in use."
                throw new StartupFailure($"serve cannot listen on {parse.GetValue(urls)} or {parse.GetValue(metrics)} " +
                    $"({e.Message.TrimEnd('.')}); choose a free address with --urls or --metrics-urls", StartupFailure.CannotListen, e);
            }
            await app.WaitForShutdownAsync(cancellationToken);
            return 0;
        });
        return command;
    }
}
