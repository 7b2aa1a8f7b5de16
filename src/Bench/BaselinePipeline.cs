using System.Text.Json;
using System.Text.Json.Nodes;
using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;
using Marten;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Worker.CustomerPromotionLists;
using Worker.LeadSegments;
using Worker.MarketingPermissions;
using Worker.Messaging;
using Worker.Storage;

namespace Bench;

/// <summary>
/// The "baseline": what a team on this stack writes first. One plain MassTransit consumer per operation on a bus with
/// default settings (no prefetch, concurrency or ordering of its own), each message in its own Marten session: look
/// up the inbox, load, decide with the worker's rules, store the change and the inbox entry with one
/// SaveChangesAsync, publish the result. A write that loses a version race to a concurrent message is retried by
/// MassTransit. Only the raw JSON serializer is set, because upstream services send plain JSON.
/// </summary>
public static class BaselinePipeline
{
    /// <summary>The baseline's bus and what it uses; disposing stops the bus and closes its database connections.</summary>
    public sealed class Running(ServiceProvider services, IBusControl bus) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await bus.StopAsync(CancellationToken.None);
            // Each round starts a new baseline: connections left open by earlier rounds would count against
            // PostgreSQL's max_connections in later ones.
            await services.DisposeAsync();
        }
    }

    public static async Task<Running> StartAsync(IServiceCollection services, string rabbitMq, string prefix,
        CancellationToken cancellationToken)
    {
        AddBus(services, rabbitMq, prefix);
        var provider = services.BuildServiceProvider();
        var bus = provider.GetRequiredService<IBusControl>();
        await bus.StartAsync(cancellationToken);
        return new Running(provider, bus);
    }

    public static IServiceCollection AddBus(IServiceCollection services, string rabbitMq, string prefix)
    {
        services.AddMassTransit(bus =>
        {
            bus.DisableUsageTelemetryForGood();
            bus.AddConsumer<BaselineConsumer<UpdateLeadSegment>>();
            bus.AddConsumer<BaselineConsumer<UpdateMarketingPermissions>>();
            bus.AddConsumer<BaselineConsumer<UpdateCustomerPromotionList>>();
            bus.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(new Uri(rabbitMq));
                cfg.UseRawJsonSerializer(RawSerializerOptions.All, isDefault: true);
                cfg.UseMessageRetry(retry => retry.Immediate(5));
                cfg.ReceiveEndpoint(prefix + UpdateLeadSegment.Queue, e => e.ConfigureConsumer<BaselineConsumer<UpdateLeadSegment>>(context));
                cfg.ReceiveEndpoint(prefix + UpdateMarketingPermissions.Queue, e => e.ConfigureConsumer<BaselineConsumer<UpdateMarketingPermissions>>(context));
                cfg.ReceiveEndpoint(prefix + UpdateCustomerPromotionList.Queue, e => e.ConfigureConsumer<BaselineConsumer<UpdateCustomerPromotionList>>(context));
            });
        });
        return services;
    }

    sealed class BaselineConsumer<TCommand>(IDocumentStore store) : IConsumer<TCommand> where TCommand : class
    {
        public async Task Consume(ConsumeContext<TCommand> context)
        {
            var command = context.Message;
            CommandOutcome outcome;
            await using (var session = store.LightweightSession())
            {
                if (context.MessageId is { } seen && await session.LoadAsync<InboxEntry>(seen, context.CancellationToken) is { } earlier)
                {
                    outcome = CommandOutcome.Repeat(earlier);
                }
                else
                {
                    outcome = await DecideAsync(command, context.MessageId, session, context.CancellationToken);
                    // A refused command changes nothing but its answer.
                    if (!outcome.Succeeded) session.EjectAllPendingChanges();
                    if (context.MessageId is { } id)
                    {
                        session.Insert(new InboxEntry
                        {
                            Id = id, Succeeded = outcome.Succeeded, Status = outcome.Status,
                            Body = outcome.Body.GetRawText(), Day = InboxEntry.DayOf(DateTimeOffset.UtcNow),
                        });
                    }
                    await session.SaveChangesAsync(context.CancellationToken);
                }
            }
            var result = BenchResults.Answer(command, context.MessageId, outcome);
            await context.Publish(result, result.GetType(), context.CancellationToken);
        }
    }

    static Task<CommandOutcome> DecideAsync(object command, Guid? messageId, IDocumentSession session,
        CancellationToken cancellationToken) => command switch
    {
        UpdateLeadSegment c => LeadSegmentAsync(c, session, cancellationToken),
        UpdateMarketingPermissions c => PermissionsAsync(c, messageId, session, cancellationToken),
        UpdateCustomerPromotionList c => AssignmentAsync(c, session, cancellationToken),
        _ => throw new InvalidOperationException($"Unknown command {command.GetType()}"),
    };

    static async Task<CommandOutcome> LeadSegmentAsync(UpdateLeadSegment command, IDocumentSession session,
        CancellationToken cancellationToken)
    {
        var (patch, errors) = LeadSegmentPatch.Read(command);
        if (patch is null) return new(false, 400, LeadSegmentErrors.Body(errors));
        var enterprise = session.ForTenant(command.Enterprise!);
        var segment = await enterprise.LoadAsync<LeadSegment>(command.Id!, cancellationToken);
        if (segment is null || !LeadSegmentRules.IsLive(segment, segment.Deleted))
            return new(false, 404, LeadSegmentErrors.Body([LeadSegmentErrors.LeadSegmentNotFound(command.Id!)]));
        var (updated, refusal) = LeadSegmentRules.Apply(segment, patch, DateTimeOffset.UtcNow);
        if (updated is null) return new(false, 422, LeadSegmentErrors.Body([refusal!]));
        enterprise.UpdateExpectedVersion(updated, updated.Version);
        return new(true, 200, LeadSegmentRules.SuccessBody(updated));
    }

    static async Task<CommandOutcome> PermissionsAsync(UpdateMarketingPermissions command, Guid? messageId,
        IDocumentSession session, CancellationToken cancellationToken)
    {
        var (request, error) = MarketingPermissionsRequest.Read(command);
        if (request is null) return new(false, error!.Status, error.Body());
        var account = await session.LoadAsync<Account>(request.AccountId, cancellationToken);
        if (account is null)
        {
            var missing = PaywayErrors.AccountNotFound(request.AccountId);
            return new(false, missing.Status, missing.Body());
        }
        var defined = (await session.LoadManyAsync<MarketingPermission>(cancellationToken,
            request.Permissions.Select(p => p.Id).ToArray())).ToDictionary(p => p.Id);
        var (decision, refusal) = MarketingPermissionRules.Apply(account, request, defined, DateTimeOffset.UtcNow,
            command.CorrelationId!, messageId);
        if (decision is null) return new(false, refusal!.Status, refusal.Body());
        if (decision.Changes.Count > 0)
        {
            session.UpdateExpectedVersion(decision.Account, decision.Account.Version);
            session.Events.Append(request.AccountId, decision.Changes);
        }
        return new(true, 200, JsonSerializer.SerializeToElement(new JsonObject { ["id"] = account.Id }));
    }

    static async Task<CommandOutcome> AssignmentAsync(UpdateCustomerPromotionList command, IDocumentSession session,
        CancellationToken cancellationToken)
    {
        var (request, error) = AssignmentRequest.Read(command);
        if (request is null) return new(false, error!.Status, error.Body());
        if (request.Address is not AssignmentAddress.ById byId)
            throw new NotSupportedException("The baseline reads assignments by id only, as the bench addresses them");
        var assignment = await session.LoadAsync<CustomerPromotionList>(byId.Id, cancellationToken);
        var list = await session.LoadAsync<PromotionList>(request.PromotionListId, cancellationToken);
        var customer = await session.LoadAsync<Customer>(request.CustomerId, cancellationToken);
        var refused = assignment is null ? ValomniaErrors.Unknown("customerPromotionList", byId.Id)
            : list is null ? ValomniaErrors.Unknown("promotionList", request.PromotionListId)
            : customer is null ? ValomniaErrors.Unknown("customer", request.CustomerId)
            : null;
        if (refused is not null) return new(false, refused.Status, refused.Body());
        var (updated, refusal) = AssignmentRules.Apply(assignment!, customer!, list!, DateTimeOffset.UtcNow);
        if (updated is null) return new(false, refusal!.Status, refusal.Body());
        session.UpdateExpectedVersion(updated, updated.Version);
        return new(true, 200, AssignmentRules.SuccessBody(updated, customer!, list!));
    }
}
