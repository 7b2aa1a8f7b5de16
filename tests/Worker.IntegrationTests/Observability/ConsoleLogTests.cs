using System.Text.Json;
using Contracts.LeadSegments;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.Observability;

/// <summary>
/// The console of a worker process, as an operator reads it: a value from a message cannot forge a line, in the
/// plain format or in JSON, and an unreadable message is one warning line, without a stack trace.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class ConsoleLogTests(WorkerFixture fixture)
{
    const string Forged = "forged\nfail: Worker.Forged[0]\r\n      all is well\u001b[2J\u2028";

    [Theory]
    [InlineData("plain")]
    [InlineData("json")]
    public async Task A_correlation_id_with_line_breaks_stays_on_the_line_of_its_entry(string format)
    {
        var settings = new Dictionary<string, string>();
        if (format == "json") settings["Logging__Console__FormatterName"] = "json";
        await using var worker = await WorkerProcess.StartAsync(fixture.Services, settings);
        // The fixture's in-process worker consumes the same queue: send until this process has taken one.
        for (var attempt = 0; attempt < 40 && !worker.Output.Contains("forged"); attempt++)
        {
            await fixture.SendJsonAsync(UpdateLeadSegment.Queue,
                new { correlationId = Forged, enterprise = "acme", id = "missing", body = new { code = "X" } });
            await Task.Delay(250);
        }
        var output = worker.Output;
        Assert.Contains("forged", output);
        var lines = output.Split('\n');
        Assert.DoesNotContain(lines, line => line.StartsWith("fail: Worker.Forged"));
        Assert.DoesNotContain(lines, line => line.TrimStart().StartsWith("all is well"));
        Assert.DoesNotContain("\u001b", output);
        Assert.DoesNotContain("\u2028", output);
        if (format == "json")
            Assert.All(lines.Where(line => line.Contains("forged")), line => JsonDocument.Parse(line));
    }

    [Fact]
    public async Task An_unreadable_message_is_one_warning_line_without_a_stack_trace()
    {
        await using var worker = await WorkerProcess.StartAsync(fixture.Services);
        // The fixture's in-process worker consumes the same queue: send until this process has taken one.
        for (var attempt = 0; attempt < 40 && !worker.Output.Contains("failed with 400"); attempt++)
        {
            await fixture.SendRawAsync(UpdateLeadSegment.Queue, "{not json"u8.ToArray(), correlationId: $"unreadable-{attempt}");
            await Task.Delay(250);
        }
        await Task.Delay(500);
        var output = worker.Output;
        var lines = output.Split('\n');
        var header = lines.Select((line, index) => (line, index)).First(l => l.index + 1 < lines.Length
            && lines[l.index + 1].Contains("failed with 400"));
        Assert.StartsWith("warn: ", header.line);
        Assert.DoesNotContain("R-FAULT", output);
        Assert.DoesNotContain("   at ", output);
        Assert.DoesNotContain("Exception", output);
    }
}
