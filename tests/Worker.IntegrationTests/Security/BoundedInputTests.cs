using Contracts.LeadSegments;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.Security;

/// <summary>
/// Oversized input cannot exhaust memory or the broker: the broker refuses a message over its max_message_size
/// (1 MiB, deploy/rabbitmq/limits.conf) before anyone holds it, the worker's memory stays within prefetch times that
/// size while a stream of the largest it may get arrives, and the error queue stays bounded by its policy. On servers
/// of its own, so that this worker is the queue's only consumer.
/// </summary>
public sealed class BoundedInputTests(SecureServers servers) : IClassFixture<SecureServers>
{
    const int BrokerLimit = 1024 * 1024;
    // The worker's default, which the test's worker runs with.
    static readonly int Prefetch = new Worker.Messaging.MessagingOptions().PrefetchCount;

    [Fact]
    public async Task The_broker_refuses_a_message_over_its_limit_to_the_publisher()
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(servers.Amqp) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(
            publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var refused = await Assert.ThrowsAnyAsync<Exception>(async () =>
            await channel.BasicPublishAsync("", "anything", mandatory: false, new BasicProperties(), new byte[2 * BrokerLimit]));
        var reason = (refused as OperationInterruptedException)?.ShutdownReason ?? (refused.InnerException as OperationInterruptedException)?.ShutdownReason;
        Assert.True(reason is not null, refused.ToString());
        Assert.Contains("larger than configured max size", reason.ReplyText);
    }

    [Fact]
    public async Task A_stream_of_the_largest_messages_keeps_the_worker_within_its_memory_budget_and_the_error_queue_bounded()
    {
        await using var worker = await WorkerProcess.StartAsync(servers.Amqp, servers.PlainPostgres);
        // A smaller bound than make run's, to see it hold.
        await servers.RabbitMqCtlAsync("set_policy", "--apply-to", "queues", "--priority", "20", "small-error-queues",
            "_(error|skipped)$", """{"max-length":5,"overflow":"drop-head"}""");
        var before = (await worker.MemoryAsync()).Now;

        // Enough to fill the prefetch several times over: growth that followed the count would show.
        const int count = 400;
        await using (var connection = await new ConnectionFactory { Uri = new Uri(servers.Amqp) }.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync(new CreateChannelOptions(
                         publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true)))
        {
            // Just under the broker's limit, far over the worker's own (Messaging:MaxMessageBytes): each is answered
            // with the API's 400 and moved to the error queue.
            var body = new byte[BrokerLimit - 4096];
            Array.Fill(body, (byte)' ');
            body[0] = (byte)'{';
            for (var i = 0; i < count; i++)
            {
                await channel.BasicPublishAsync("", UpdateLeadSegment.Queue, mandatory: true,
                    new BasicProperties { ContentType = "application/json", MessageId = Guid.NewGuid().ToString() }, body);
            }
        }
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (await worker.CommandsAnsweredAsync() < count && DateTime.UtcNow < deadline) await Task.Delay(250);
        Assert.Equal(count, await worker.CommandsAnsweredAsync());

        var peak = (await worker.MemoryAsync()).Peak;
        // The documented budget (docs/security.md): prefetch x the broker's limit of bodies in hand, four times over
        // for the client's buffer, MassTransit's copy, the copy sent to the error queue and the large-object heap's
        // garbage awaiting collection. Measured: about 200 MiB over the idle worker, whether 150 or 400 arrive.
        var budget = 4L * Prefetch * BrokerLimit;
        Assert.True(peak - before < budget, $"peak RSS {peak / 1048576} MiB, {before / 1048576} MiB before; budget {budget / 1048576} MiB");

        var errorQueue = (await servers.RabbitMqCtlAsync("-q", "list_queues", "name", "messages")).Split('\n')
            .Select(line => line.Split('\t', StringSplitOptions.TrimEntries))
            .Single(columns => columns[0] == UpdateLeadSegment.Queue + "_error");
        Assert.Equal("5", errorQueue[1]);
    }
}
