using System.Text.Json;
using System.Text.RegularExpressions;
using Contracts.LeadSegments;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.LeadSegments;

/// <summary>Sends lead-segment commands as raw JSON and checks answers against the documented shapes.</summary>
public abstract partial class LeadSegmentScenario(WorkerFixture fixture) : IAsyncLifetime
{
    public const string Table = "mt_doc_leadsegment";
    protected WorkerFixture Fixture { get; } = fixture;

    public Task InitializeAsync() => Fixture.ResetAsync();
    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>Sends {correlationId, enterprise, id, body} and waits for its one result.</summary>
    protected async Task<ReceivedResult> UpdateAsync(string enterprise, string id, object body, string? messageId = null)
    {
        var correlationId = Guid.NewGuid().ToString();
        await Fixture.SendJsonAsync(UpdateLeadSegment.Queue, new { correlationId, enterprise, id, body }, messageId);
        return await Fixture.Results.WaitForAsync(correlationId);
    }

    protected static JsonElement Data(ReceivedResult result)
    {
        Assert.Equal(LeadSegmentUpdated.Exchange, result.Exchange);
        Assert.Equal(200, result.Status);
        return result.Body.GetProperty("data");
    }

    /// <summary>
    /// Asserts a failed result with the documented envelope: every item has message, code, type and statusCode as
    /// non-empty strings, statusCode matches the status, and 422 items carry arguments.
    /// </summary>
    protected static IReadOnlyList<JsonElement> Errors(ReceivedResult result, int status)
    {
        Assert.Equal(LeadSegmentUpdateFailed.Exchange, result.Exchange);
        Assert.Equal(status, result.Status);
        var errors = result.Body.GetProperty("errors").EnumerateArray().ToList();
        Assert.NotEmpty(errors);
        foreach (var error in errors)
        {
            foreach (var field in new[] { "message", "code", "type", "statusCode" })
            {
                Assert.Equal(JsonValueKind.String, error.GetProperty(field).ValueKind);
                Assert.NotEmpty(error.GetProperty(field).GetString()!);
            }
            Assert.Equal(status.ToString(), error.GetProperty("statusCode").GetString());
            if (status == 422) Assert.Equal(JsonValueKind.Object, error.GetProperty("arguments").ValueKind);
        }
        return errors;
    }

    protected static void AssertTimestamp(JsonElement value) =>
        Assert.Matches(TimestampFormat(), value.GetString()!);

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")]
    private static partial Regex TimestampFormat();
}
