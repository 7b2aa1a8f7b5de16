// A service of another team that calls the worker with MassTransit, as the UpdateWorker.Contracts README shows.
//
//   PackageUser requests <amqp uri>   reads requests from stdin, one JSON object a line:
//                                     {"operation": "lead-segment", "command": {...}, "messageId": "..."}
//                                     and writes each answer as a JSON line (or {"timeout": ...})
//   PackageUser subscribe <amqp uri>  sends one lead-segment command from stdin with ISendEndpointProvider and
//                                     writes the LeadSegmentUpdated its result subscription receives
using System.Text.Json;
using Contracts;
using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

var (mode, rabbitMq) = (args[0], new Uri(args[1]));
var received = new TaskCompletionSource<LeadSegmentUpdated>(TaskCreationOptions.RunContinuationsAsynchronously);

var builder = Host.CreateApplicationBuilder();
// Standard output carries the answers, one JSON object a line; the log goes to standard error.
builder.Logging.ClearProviders();
builder.Logging.AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services.AddSingleton(received);
builder.Services.AddMassTransit(x =>
{
    // MassTransit 8.4 and later report usage to their vendor unless told not to; nothing of the tests leaves the machine.
    x.DisableUsageTelemetry();
    x.AddUpdateWorkerClients(RequestTimeout.After(s: 60));
    x.AddConsumer<LeadSegmentUpdatedConsumer>();

    x.UsingRabbitMq((context, cfg) =>
    {
        cfg.Host(rabbitMq);
        cfg.UseUpdateWorker();
        if (mode == "subscribe")
        {
            cfg.ReceiveUpdateWorkerResults<LeadSegmentUpdated>($"package-user-{Guid.NewGuid():N}", e =>
            {
                e.AutoDelete = true;
                e.Durable = false;
                e.ConfigureConsumer<LeadSegmentUpdatedConsumer>(context);
            });
        }
    });
});
using var host = builder.Build();
await host.StartAsync();

var json = new JsonSerializerOptions(JsonSerializerDefaults.Web);
void Write(object line) => Console.WriteLine(JsonSerializer.Serialize(line, json));

if (mode == "subscribe")
{
    var command = JsonSerializer.Deserialize<UpdateLeadSegment>(Console.ReadLine()!, json)!;
    var endpoint = await host.Services.GetRequiredService<ISendEndpointProvider>().GetSendEndpoint(UpdateWorkerAddresses.LeadSegments);
    await endpoint.Send(command);
    Write(await received.Task.WaitAsync(TimeSpan.FromSeconds(60)));
}
else
{
    while (Console.ReadLine() is { } line)
    {
        using var request = JsonDocument.Parse(line);
        var operation = request.RootElement.GetProperty("operation").GetString();
        var command = request.RootElement.GetProperty("command").GetRawText();
        Guid? messageId = request.RootElement.TryGetProperty("messageId", out var id) ? id.GetGuid() : null;
        Write(new { sending = operation });
        try
        {
            Write(operation switch
            {
                "lead-segment" => await AskAsync<UpdateLeadSegment, LeadSegmentUpdated, LeadSegmentUpdateFailed>(command, messageId),
                "marketing-permissions" => await AskAsync<UpdateMarketingPermissions, MarketingPermissionsUpdated, MarketingPermissionsUpdateFailed>(command, messageId),
                "customer-promotion-list" => await AskAsync<UpdateCustomerPromotionList, CustomerPromotionListUpdated, CustomerPromotionListUpdateFailed>(command, messageId),
                // A mistake a caller can make: a command sent to another operation's exchange.
                "marketing-permissions-to-lead-segments" => await AskAsync<UpdateMarketingPermissions, LeadSegmentUpdated, LeadSegmentUpdateFailed>(command, messageId, UpdateWorkerAddresses.LeadSegments),
                _ => throw new ArgumentException($"unknown operation {operation}"),
            });
        }
        catch (RequestTimeoutException e)
        {
            Write(new { timeout = e.Message });
        }
    }
}
await host.StopAsync();

async Task<object> AskAsync<TCommand, TUpdated, TFailed>(string command, Guid? messageId, Uri? address = null)
    where TCommand : class
    where TUpdated : CommandResult
    where TFailed : CommandResult
{
    var client = address is null
        ? host.Services.GetRequiredService<IRequestClient<TCommand>>()
        : host.Services.GetRequiredService<IClientFactory>().CreateRequestClient<TCommand>(address);
    var message = JsonSerializer.Deserialize<TCommand>(command, json)!;
    Response<TUpdated, TFailed> response = await client.GetResponse<TUpdated, TFailed>(message,
        x => x.UseExecute(context => context.MessageId = messageId ?? context.MessageId));
    if (response.Is(out Response<TUpdated>? updated))
        return new { type = typeof(TUpdated).Name, requestId = response.RequestId, result = (object)updated.Message };
    if (response.Is(out Response<TFailed>? failed))
        return new { type = typeof(TFailed).Name, requestId = response.RequestId, result = (object)failed.Message };
    throw new InvalidOperationException("neither response");
}

sealed class LeadSegmentUpdatedConsumer(TaskCompletionSource<LeadSegmentUpdated> received) : IConsumer<LeadSegmentUpdated>
{
    public Task Consume(ConsumeContext<LeadSegmentUpdated> context)
    {
        received.TrySetResult(context.Message);
        return Task.CompletedTask;
    }
}
