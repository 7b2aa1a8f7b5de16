using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Worker.IntegrationTests.Infrastructure;
using Worker.Storage;

namespace Worker.IntegrationTests.Storage;

/// <summary>
/// The lanes' rule, on the worker's own lanes and database: a command that fails holds its document, whatever the
/// failure, until a retry applies it or it is settled; later commands of that document wait, other documents go on.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class DocumentHoldTests(WorkerFixture fixture)
{
    readonly ConcurrentQueue<string> _applied = new();

    // A command of a batch that failed as a whole ran once in the rolled-back transaction too: the first time counts.
    string[] Applied => _applied.Distinct().ToArray();

    CommandLanes Lanes => fixture.Worker.Services.GetRequiredService<CommandLanes>();

    // Each document key is new, so that the worker's own commands never share it.
    static string Document(string name) => $"hold-{name}-{Guid.NewGuid():N}";

    /// <summary>A command that records its name when applied; it fails, as a broken connection does, while <paramref name="fails"/> says so.</summary>
    CommandWork Work(string name, Func<bool>? fails = null) =>
        new(Guid.NewGuid(), (_, _) =>
        {
            if (fails?.Invoke() == true) throw new InvalidOperationException("Transaction is already completed");
            _applied.Enqueue(name);
            return Task.FromResult(new CommandOutcome(true, 200, JsonSerializer.SerializeToElement(name)));
        });

    Task<CommandOutcome> ApplyAsync(CommandTicket ticket, string document, CommandWork work) =>
        Lanes.ApplyAsync(ticket, document, work, CancellationToken.None);

    [Fact]
    public async Task A_failed_command_keeps_its_place_before_its_documents_later_commands_and_other_documents_go_on()
    {
        var (a, b) = (Document("a"), Document("b"));
        var (a1, a2, b1) = (Lanes.Issue(a), Lanes.Issue(a), Lanes.Issue(b));
        var failing = true;

        var first = ApplyAsync(a1, a, Work("a1", () => failing));
        var second = ApplyAsync(a2, a, Work("a2"));
        var other = ApplyAsync(b1, b, Work("b1"));

        await Assert.ThrowsAsync<InvalidOperationException>(() => first);
        Assert.Equal(200, (await other).Status);
        await Task.Delay(300);
        Assert.False(second.IsCompleted, "a later command of the document was applied while an earlier one was failing");

        // The retry, as the consumer's retry filter makes it: same ticket, ahead of the later command.
        failing = false;
        Assert.Equal(200, (await ApplyAsync(a1, a, Work("a1"))).Status);
        Assert.Equal(200, (await second).Status);
        Assert.Equal(new[] { "b1", "a1", "a2" }, Applied);
        Lanes.Settle(a1);
        Lanes.Settle(a2);
        Lanes.Settle(b1);
    }

    [Fact]
    public async Task A_command_settled_without_being_applied_lets_its_documents_later_commands_go()
    {
        var a = Document("a");
        var (a1, a2) = (Lanes.Issue(a), Lanes.Issue(a));

        var first = ApplyAsync(a1, a, Work("a1", () => true));
        var second = ApplyAsync(a2, a, Work("a2"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => first);
        await Task.Delay(300);
        Assert.False(second.IsCompleted, "a later command of the document was applied before the failed one was settled");

        // Answered as failed and moved to the error queue, or handed back to the broker.
        Lanes.Settle(a1);
        Assert.Equal(200, (await second.WaitAsync(TimeSpan.FromSeconds(10))).Status);
        Assert.Equal(new[] { "a2" }, Applied);
        Lanes.Settle(a2);
    }

    [Fact]
    public async Task A_command_whose_delivery_is_gone_is_not_applied()
    {
        var a = Document("a");
        var gone = Lanes.Issue(a, isGone: () => true);

        await Assert.ThrowsAsync<DeliveryGoneException>(() => ApplyAsync(gone, a, Work("gone")));
        Assert.Empty(Applied);
        Lanes.Settle(gone);
    }
}
