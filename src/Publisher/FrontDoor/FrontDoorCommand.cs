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
        var command = new Command("serve", "Serves the documented HTTP APIs, each request answered by the worker")
        {
            urls, CommonOptions.RabbitMq, CommonOptions.ReplyQueuePrefix,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var app = await FrontDoorApp.BuildAsync(parse.GetValue(urls)!.Split(';'), CommonOptions.Broker(parse),
                replyQueuePrefix: parse.GetValue(CommonOptions.ReplyQueuePrefix)!);
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
