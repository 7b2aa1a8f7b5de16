using System.Text;
using RabbitMQ.Client;
using Worker.Redrive;

namespace Worker.UnitTests.Redrive;

public sealed class RedriveOptionsTests
{
    [Fact]
    public void Every_option_is_read()
    {
        var options = RedriveOptions.Parse(["--dry-run", "--queue", "update-lead-segment", "--document", "acme/1234",
            "--since", "2026-12-07T10:00:00Z", "--limit", "5", "--apply-superseded"]);
        Assert.Equal(new RedriveOptions
        {
            DryRun = true, Queue = "update-lead-segment", Document = "acme/1234",
            Since = new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero), Limit = 5, ApplySuperseded = true,
        }, options);
    }

    [Theory]
    [InlineData("--limit", "0", "--limit 0 is not a positive number")]
    [InlineData("--since", "yesterday", "--since yesterday is not a date and time")]
    [InlineData("--everything", null, "unknown option --everything")]
    [InlineData("--document", null, "--document needs a value")]
    public void A_wrong_option_is_refused_with_what_is_wrong(string option, string? value, string why)
    {
        var e = Assert.Throws<ArgumentException>(() => RedriveOptions.Parse(value is null ? [option] : [option, value]));
        Assert.StartsWith(why, e.Message);
    }

    static FailedCommand Failed(string body, string? messageId = null, IDictionary<string, object?>? headers = null) =>
        FailedCommand.Read("update-lead-segment", "update-lead-segment_error", new BasicGetResult(1, false, "", "update-lead-segment", 0,
            new BasicProperties { MessageId = messageId, Headers = headers }, Encoding.UTF8.GetBytes(body)));

    [Fact]
    public void A_failed_command_is_read_with_its_document_failure_time_and_reason()
    {
        var id = Guid.NewGuid();
        var failed = Failed("""{"correlationId":"c","enterprise":"acme","id":"1234","body":{"code":"X"}}""", id.ToString(),
            new Dictionary<string, object?>
            {
                ["MT-Fault-Timestamp"] = Encoding.UTF8.GetBytes("2026-12-07T10:00:00.0000000Z"),
                ["MT-Fault-Message"] = Encoding.UTF8.GetBytes("injected\nbug"),
            });
        Assert.Equal((id, "acme/1234", new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero), "injected bug"),
            (failed.MessageId, failed.Document, failed.FailedAt, failed.Reason));
    }

    [Fact]
    public void A_MassTransit_envelope_gives_its_message_and_its_message_id()
    {
        var id = Guid.NewGuid();
        var failed = Failed("{\"messageId\":\"" + id + "\",\"messageType\":[\"urn:message:Contracts.LeadSegments:UpdateLeadSegment\"]," +
            "\"message\":{\"enterprise\":\"acme\",\"id\":\"5678\",\"body\":{}}}");
        Assert.Equal((id, "acme/5678"), (failed.MessageId, failed.Document));
    }

    [Fact]
    public void An_unreadable_command_has_no_document_and_is_selected_by_no_document_filter()
    {
        var failed = Failed("not json");
        Assert.Null(failed.Document);
        Assert.True(new RedriveOptions().Selects(failed));
        Assert.False(new RedriveOptions { Document = "acme/1234" }.Selects(failed));
        Assert.False(new RedriveOptions { Since = DateTimeOffset.UtcNow.AddMinutes(1) }.Selects(failed));
    }
}
