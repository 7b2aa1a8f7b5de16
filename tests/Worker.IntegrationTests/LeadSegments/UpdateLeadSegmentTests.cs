using System.Text.Json;
using Contracts.LeadSegments;
using Worker.IntegrationTests.Infrastructure;
using Worker.LeadSegments;

namespace Worker.IntegrationTests.LeadSegments;

[Collection(WorkerCollection.Name)]
public sealed class UpdateLeadSegmentTests(WorkerFixture fixture) : LeadSegmentScenario(fixture)
{
    [Fact]
    public async Task The_seed_example_updates_description_and_code_and_moves_only_updatedAt()
    {
        var result = await UpdateAsync("acme", "1234", new { description = "string", code = "string" });

        var data = Data(result);
        Assert.Equal("1234", data.GetProperty("id").GetString());
        Assert.Equal("string", data.GetProperty("description").GetString());
        Assert.Equal("string", data.GetProperty("code").GetString());
        Assert.Equal(2, data.GetProperty("earliestCallbackHours").GetInt32());
        Assert.Equal(8, data.GetProperty("latestCallbackHours").GetInt32());
        Assert.Equal("2022-08-17T19:05:21.362Z", data.GetProperty("createdAt").GetString());
        AssertTimestamp(data.GetProperty("updatedAt"));
        Assert.True(DateTimeOffset.Parse(data.GetProperty("updatedAt").GetString()!) > DateTimeOffset.UtcNow.AddMinutes(-1));
        Assert.Equal(JsonValueKind.Null, data.GetProperty("deletedAt").ValueKind);

        var stored = (await Fixture.ReadDocumentAsync(Table, "acme", "1234"))!.Value;
        Assert.Equal("string", stored.GetProperty("code").GetString());
        Assert.Equal("string", stored.GetProperty("description").GetString());
    }

    [Fact]
    public async Task The_result_carries_the_correlation_id_and_the_message_id_of_the_command()
    {
        var messageId = Guid.NewGuid();
        var result = await UpdateAsync("acme", "5678", new { code = "VISITOR2" }, messageId.ToString());

        Assert.Equal(messageId, result.Event.GetProperty("commandMessageId").GetGuid());
        Assert.Equal("acme", result.Event.GetProperty("enterprise").GetString());
        Assert.Equal("5678", result.Event.GetProperty("id").GetString());
        Assert.Equal("application/json", result.Properties.ContentType);
    }

    [Fact]
    public async Task The_result_is_a_durable_plain_json_message_with_its_own_id_and_no_framework_headers()
    {
        var messageId = Guid.NewGuid();
        var result = await UpdateAsync("acme", "5678", new { code = "VISITOR3" }, messageId.ToString());

        Assert.Equal("application/json", result.Properties.ContentType);
        Assert.True(result.Properties.Persistent);
        Assert.True(Guid.TryParse(result.Properties.MessageId, out var eventId));
        Assert.NotEqual(messageId, eventId);
        // Everything a subscriber needs is in the body; MassTransit's own headers (host info, message types) would
        // only cost the broker and the worker time on every event. The one exception is the trace context, which
        // MassTransit subscribers read from MT-Activity-Id (any other subscriber from traceparent).
        Assert.DoesNotContain(result.Properties.Headers?.Keys ?? [], key => key.StartsWith("MT-") && key != "MT-Activity-Id");
    }

    [Fact]
    public async Task An_absent_field_stays_as_it_is()
    {
        var data = Data(await UpdateAsync("acme", "1234", new { code = "ONLYCODE" }));

        Assert.Equal("ONLYCODE", data.GetProperty("code").GetString());
        Assert.Equal("New customer", data.GetProperty("description").GetString());
        Assert.Equal(2, data.GetProperty("earliestCallbackHours").GetInt32());
        Assert.Equal(8, data.GetProperty("latestCallbackHours").GetInt32());
    }

    [Fact]
    public async Task A_null_description_clears_it()
    {
        var data = Data(await UpdateAsync("acme", "1234", new Dictionary<string, object?> { ["description"] = null }));

        Assert.Equal(JsonValueKind.Null, data.GetProperty("description").ValueKind);
        Assert.Equal("NEWCUSTOMER", data.GetProperty("code").GetString());
        var stored = (await Fixture.ReadDocumentAsync(Table, "acme", "1234"))!.Value;
        Assert.Equal(JsonValueKind.Null, stored.GetProperty("description").ValueKind);
    }

    [Fact]
    public async Task Callback_hours_are_patchable_and_null_clears_them()
    {
        var data = Data(await UpdateAsync("acme", "1234", new Dictionary<string, object?>
        {
            ["earliestCallbackHours"] = 0, ["latestCallbackHours"] = null,
        }));

        Assert.Equal(0, data.GetProperty("earliestCallbackHours").GetInt32());
        Assert.Equal(JsonValueKind.Null, data.GetProperty("latestCallbackHours").ValueKind);
    }

    [Theory]
    [InlineData("""{"code": null}""", "code")]
    [InlineData("""{"code": ""}""", "code")]
    [InlineData("""{"code": 42}""", "code")]
    [InlineData("""{"description": ""}""", "description")]
    [InlineData("""{"description": ["x"]}""", "description")]
    [InlineData("""{"earliestCallbackHours": -1}""", "earliestCallbackHours")]
    [InlineData("""{"earliestCallbackHours": 2.5}""", "earliestCallbackHours")]
    [InlineData("""{"latestCallbackHours": "8"}""", "latestCallbackHours")]
    [InlineData("""[]""", "body")]
    public async Task Malformed_fields_are_refused_with_400_and_change_nothing(string body, string field)
    {
        var before = await Fixture.SnapshotAsync(Table);

        var errors = Errors(await UpdateAsync("acme", "1234", JsonDocument.Parse(body).RootElement), 400);

        var error = Assert.Single(errors);
        Assert.Equal(LeadSegmentErrors.ValidationError, error.GetProperty("code").GetString());
        Assert.Equal(field, error.GetProperty("arguments").GetProperty("field").GetString());
        Assert.Equal(before, await Fixture.SnapshotAsync(Table));
    }

    [Fact]
    public async Task Every_broken_field_is_reported_at_once()
    {
        var errors = Errors(await UpdateAsync("acme", "1234", new { code = "", description = 5, latestCallbackHours = -3 }), 400);

        Assert.Equal(["code", "description", "latestCallbackHours"],
            errors.Select(e => e.GetProperty("arguments").GetProperty("field").GetString()).Order());
    }

    [Fact]
    public async Task A_code_of_255_characters_is_accepted_and_256_refused()
    {
        Assert.Equal(new string('C', 255), Data(await UpdateAsync("acme", "1234", new { code = new string('C', 255) }))
            .GetProperty("code").GetString());
        Errors(await UpdateAsync("acme", "1234", new { code = new string('C', 256) }), 400);
    }

    [Theory]
    [InlineData("", "1234")]
    [InlineData("acme", "")]
    public async Task A_missing_enterprise_or_id_is_refused_with_400(string enterprise, string id)
    {
        var error = Assert.Single(Errors(await UpdateAsync(enterprise, id, new { code = "X" }), 400));
        Assert.Equal(enterprise == "" ? "enterprise" : "id", error.GetProperty("arguments").GetProperty("field").GetString());
    }

    [Fact]
    public async Task A_command_without_correlation_id_is_refused_and_answered_with_the_transport_correlation_id()
    {
        await Fixture.SendRawAsync(UpdateLeadSegment.Queue, WorkerFixture.Utf8("""{"enterprise":"acme","id":"1234","body":{"code":"X"}}"""),
            correlationId: "transport-correlation-1");

        var error = Assert.Single(Errors(await Fixture.Results.WaitForAsync("transport-correlation-1"), 400));
        Assert.Equal("correlationId", error.GetProperty("arguments").GetProperty("field").GetString());
    }

    [Fact]
    public async Task Earliest_after_latest_is_refused_with_422_and_changes_nothing()
    {
        var before = await Fixture.SnapshotAsync(Table);

        var error = Assert.Single(Errors(await UpdateAsync("acme", "1234", new { earliestCallbackHours = 9 }), 422));

        Assert.Equal("LEAD_SEGMENT_EARLIEST_CALLBACK_HOURS_GREATHER_THAN_LATEST_CALLBACK_HOURS", error.GetProperty("code").GetString());
        Assert.Equal(9, error.GetProperty("arguments").GetProperty("earliestCallbackHours").GetInt32());
        Assert.Equal(8, error.GetProperty("arguments").GetProperty("latestCallbackHours").GetInt32());
        Assert.Equal(before, await Fixture.SnapshotAsync(Table));
    }

    [Fact]
    public async Task Earliest_and_latest_moved_together_are_checked_on_the_result()
    {
        var data = Data(await UpdateAsync("acme", "1234", new { earliestCallbackHours = 10, latestCallbackHours = 12 }));
        Assert.Equal(10, data.GetProperty("earliestCallbackHours").GetInt32());

        Errors(await UpdateAsync("acme", "1234", new { latestCallbackHours = 9 }), 422);
    }

    [Theory]
    [InlineData("acme", "4321")]
    [InlineData("acme", "9999")]
    [InlineData("globex", "5678")]
    [InlineData("initech", "1234")]
    public async Task An_unknown_soft_deleted_or_other_enterprises_lead_segment_is_404(string enterprise, string id)
    {
        var before = await Fixture.SnapshotAsync(Table);

        var error = Assert.Single(Errors(await UpdateAsync(enterprise, id, new { code = "ANY" }), 404));

        Assert.Equal(LeadSegmentErrors.NotFound, error.GetProperty("code").GetString());
        Assert.Equal(before, await Fixture.SnapshotAsync(Table));
    }

    [Fact]
    public async Task An_update_in_one_enterprise_leaves_the_same_id_in_another_untouched()
    {
        var globexBefore = await Fixture.ReadDocumentAsync(Table, "globex", "1234");

        Data(await UpdateAsync("acme", "1234", new { code = "ACMEONLY", description = "changed" }));

        Assert.Equal(globexBefore!.Value.GetRawText(), (await Fixture.ReadDocumentAsync(Table, "globex", "1234"))!.Value.GetRawText());
    }

    [Fact]
    public async Task A_code_used_by_another_live_lead_segment_of_the_enterprise_is_422()
    {
        var before = await Fixture.SnapshotAsync(Table);

        var error = Assert.Single(Errors(await UpdateAsync("acme", "1234", new { code = "REPEATVISITOR" }), 422));

        Assert.Equal("LEAD_SEGMENT_CODE_ALREADY_IN_USE", error.GetProperty("code").GetString());
        Assert.Equal("REPEATVISITOR", error.GetProperty("arguments").GetProperty("code").GetString());
        Assert.Equal(before, await Fixture.SnapshotAsync(Table));
    }

    [Fact]
    public async Task Keeping_its_own_code_or_taking_a_soft_deleted_ones_code_is_allowed()
    {
        Assert.Equal("NEWCUSTOMER", Data(await UpdateAsync("acme", "1234", new { code = "NEWCUSTOMER" })).GetProperty("code").GetString());
        Assert.Equal("OLD", Data(await UpdateAsync("acme", "1234", new { code = "OLD" })).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Another_enterprise_may_use_the_same_code()
    {
        Assert.Equal("NEWCUSTOMER", Data(await UpdateAsync("globex", "1234", new { code = "NEWCUSTOMER" })).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Two_concurrent_updates_racing_for_one_code_never_both_win()
    {
        for (var round = 0; round < 10; round++)
        {
            var code = $"RACE{round}";
            var first = Guid.NewGuid().ToString();
            var second = Guid.NewGuid().ToString();
            await Task.WhenAll(
                Fixture.SendJsonAsync(UpdateLeadSegment.Queue, new { correlationId = first, enterprise = "acme", id = "1234", body = new { code } }),
                Fixture.SendJsonAsync(UpdateLeadSegment.Queue, new { correlationId = second, enterprise = "acme", id = "5678", body = new { code } }));

            var statuses = new[] { (await Fixture.Results.WaitForAsync(first)).Status, (await Fixture.Results.WaitForAsync(second)).Status };

            Assert.Equal([200, 422], statuses.Order());
            await using var count = Fixture.Database.CreateCommand($"select count(*) from {Table} where tenant_id = 'acme' and data->>'code' = $1");
            count.Parameters.Add(new Npgsql.NpgsqlParameter { Value = code });
            Assert.Equal(1L, await count.ExecuteScalarAsync());
        }
    }

    [Fact]
    public async Task A_redelivered_command_is_applied_once_and_answered_with_the_same_result()
    {
        var messageId = Guid.NewGuid().ToString();
        var correlationId = Guid.NewGuid().ToString();
        var command = new { correlationId, enterprise = "acme", id = "1234", body = new { code = "FIRST" } };
        await Fixture.SendJsonAsync(UpdateLeadSegment.Queue, command, messageId);
        var first = await Fixture.Results.WaitForAsync(correlationId);
        Data(await UpdateAsync("acme", "1234", new { code = "SECOND" }));

        await Fixture.SendJsonAsync(UpdateLeadSegment.Queue, command, messageId);
        var results = await Fixture.Results.WaitForAsync(correlationId, 2);

        Assert.Equal(first.Event.GetRawText(), results[1].Event.GetRawText());
        Assert.Equal("SECOND", (await Fixture.ReadDocumentAsync(Table, "acme", "1234"))!.Value.GetProperty("code").GetString());
    }
}
