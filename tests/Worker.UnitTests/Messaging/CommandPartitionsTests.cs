using Worker.Messaging;

namespace Worker.UnitTests.Messaging;

public sealed class CommandPartitionsTests
{
    [Theory]
    [InlineData("update-lead-segment.p0", "update-lead-segment")]
    [InlineData("update-lead-segment.p12", "update-lead-segment")]
    [InlineData("update-lead-segment", "update-lead-segment")]
    [InlineData("update-lead-segment.partitioned", "update-lead-segment.partitioned")]
    [InlineData("a.px", "a.px")]
    public void A_partition_belongs_to_its_operations_queue(string queue, string operation) =>
        Assert.Equal(operation, CommandPartitions.OperationQueueOf(queue));

    [Fact]
    public void Every_partition_shares_its_operations_error_and_skipped_queues()
    {
        var names = new CommandPartitions.SharedErrorQueues();
        Assert.Equal("update-lead-segment_error", names.FormatErrorQueueName(CommandPartitions.QueueOf("update-lead-segment", 3)));
        Assert.Equal("update-lead-segment_error", names.FormatErrorQueueName("update-lead-segment"));
        Assert.Equal("update-lead-segment_skipped", names.FormatDeadLetterQueueName(CommandPartitions.QueueOf("update-lead-segment", 0)));
    }

    [Fact]
    public void Publishers_address_the_partitioned_exchange_by_the_operations_queue_name() =>
        Assert.Equal("update-marketing-permissions.partitioned", CommandPartitions.ExchangeOf("update-marketing-permissions"));
}
