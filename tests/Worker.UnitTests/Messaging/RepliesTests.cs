using Worker.Messaging;

namespace Worker.UnitTests.Messaging;

public sealed class RepliesTests
{
    static readonly Uri Host = new("rabbitmq://broker.example/");

    [Theory]
    // A MassTransit request client's bus endpoint: its exchange and queue share the name.
    [InlineData("rabbitmq://broker.example/web01_Orders_bus_kk5oyyfpcbbyfjxxbdq1t7ts8a?temporary=true", null, "web01_Orders_bus_kk5oyyfpcbbyfjxxbdq1t7ts8a")]
    // A receive endpoint of the caller's.
    [InlineData("rabbitmq://broker.example/order-replies", null, "order-replies")]
    // An exchange bound to a queue of another name: the queue.
    [InlineData("rabbitmq://broker.example/replies-exchange?bind=true&queue=replies-queue", null, "replies-queue")]
    // MassTransit's direct reply-to request client: the name the broker gave the request.
    [InlineData("rabbitmq://broker.example/amq.rabbitmq.reply-to", "amq.rabbitmq.reply-to.g1h2AA5yZXBseUA.abc==", "amq.rabbitmq.reply-to.g1h2AA5yZXBseUA.abc==")]
    public void A_response_address_is_answered_at_its_queue(string address, string? replyTo, string queue) =>
        Assert.Equal(queue, Replies.QueueOf(Host, new Uri(address), replyTo));

    [Fact]
    public void The_reply_to_a_command_has_the_same_message_id_every_time_and_another_than_the_command()
    {
        var command = Guid.NewGuid();
        Assert.Equal(Replies.ReplyIdOf(command), Replies.ReplyIdOf(command));
        Assert.NotEqual(command, Replies.ReplyIdOf(command));
        Assert.NotEqual(Replies.ReplyIdOf(command), Replies.ReplyIdOf(Guid.NewGuid()));
    }
}
