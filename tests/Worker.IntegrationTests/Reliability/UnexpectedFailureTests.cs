using System.Text;
using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.Reliability;

/// <summary>
/// A write that PostgreSQL keeps refusing (a trigger installed for the test raises on one document) is retried,
/// then answered with the API's documented 500 and kept in the error queue; it never loops.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class UnexpectedFailureTests(WorkerFixture fixture) : IAsyncLifetime
{
    public Task InitializeAsync() => fixture.ResetAsync();

    public async Task DisposeAsync()
    {
        await using var command = fixture.Database.CreateCommand("""
            drop trigger if exists test_fault on mt_doc_leadsegment;
            drop trigger if exists test_fault on mt_doc_account;
            drop trigger if exists test_fault on mt_doc_customerpromotionlist;
            drop trigger if exists test_flaky on mt_doc_leadsegment;
            drop sequence if exists test_flaky;
            """);
        await command.ExecuteNonQueryAsync();
    }

    async Task BreakWritesAsync(string table, string id)
    {
        await using var command = fixture.Database.CreateCommand($"""
            create or replace function test_fault() returns trigger language plpgsql as $$
            begin
                if new.id::text = '{id}' then raise exception 'injected fault'; end if;
                return new;
            end $$;
            create trigger test_fault before update on {table} for each row execute function test_fault();
            """);
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task A_lead_segment_update_that_keeps_failing_is_a_500_in_the_errors_envelope()
    {
        await BreakWritesAsync("mt_doc_leadsegment", "1234");
        var before = await fixture.SnapshotAsync("mt_doc_leadsegment");

        await fixture.SendJsonAsync(UpdateLeadSegment.Queue, new { correlationId = "fault-ls", enterprise = "acme", id = "1234", body = new { code = "X" } });

        var result = await fixture.Results.WaitForAsync("fault-ls");
        Assert.Equal((LeadSegmentUpdateFailed.Exchange, 500), (result.Exchange, result.Status));
        var error = Assert.Single(result.Body.GetProperty("errors").EnumerateArray());
        Assert.Equal("INTERNAL_SERVER_ERROR", error.GetProperty("code").GetString());
        Assert.Equal("500", error.GetProperty("statusCode").GetString());
        Assert.Single(await fixture.WaitForErrorQueueAsync(UpdateLeadSegment.Queue));
        Assert.Equal(before, await fixture.SnapshotAsync("mt_doc_leadsegment"));
        await Task.Delay(500);
        Assert.Single(fixture.Results.ResultsFor("fault-ls"));
    }

    [Fact]
    public async Task A_command_that_fails_before_it_succeeds_keeps_its_place_before_the_later_commands_of_its_document()
    {
        // The first two writes of the description "flaky" fail (a sequence outlives the rolled-back transactions),
        // whatever the error; the command succeeds on a retry. Its document's next command, sent right behind it,
        // must see it applied: serial application gives the description "flaky" and the callback hours together.
        await using (var command = fixture.Database.CreateCommand("""
            create sequence test_flaky;
            create or replace function test_flaky() returns trigger language plpgsql as $$
            begin
                if new.data->>'description' = 'flaky' and nextval('test_flaky') <= 2 then raise exception 'injected flaky fault'; end if;
                return new;
            end $$;
            create trigger test_flaky before update on mt_doc_leadsegment for each row execute function test_flaky();
            """))
        {
            await command.ExecuteNonQueryAsync();
        }

        await fixture.SendJsonAsync(UpdateLeadSegment.Queue, new { correlationId = "flaky-1", enterprise = "acme", id = "1234", body = new { description = "flaky" } });
        await fixture.SendJsonAsync(UpdateLeadSegment.Queue, new { correlationId = "flaky-2", enterprise = "acme", id = "1234", body = new { earliestCallbackHours = 3 } });
        await fixture.SendJsonAsync(UpdateLeadSegment.Queue, new { correlationId = "flaky-other", enterprise = "acme", id = "5678", body = new { earliestCallbackHours = 4 } });

        var first = await fixture.Results.WaitForAsync("flaky-1");
        var second = await fixture.Results.WaitForAsync("flaky-2");
        Assert.Equal((200, 200), (first.Status, second.Status));
        var data = second.Body.GetProperty("data");
        Assert.Equal(("flaky", 3), (data.GetProperty("description").GetString(), data.GetProperty("earliestCallbackHours").GetInt32()));
        Assert.Equal(200, (await fixture.Results.WaitForAsync("flaky-other")).Status);
        await using var attempts = fixture.Database.CreateCommand("select last_value from test_flaky");
        Assert.True((long)(await attempts.ExecuteScalarAsync())! >= 3, "the command never failed");
    }

    [Fact]
    public async Task A_marketing_permissions_update_that_keeps_failing_is_a_500_internal_server_error()
    {
        await BreakWritesAsync("mt_doc_account", "585a4768edce2c5e6f000001");

        var command = """{"correlationId": "fault-mp", "body": {"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"id": "5b9707e317c0f859830000c3", "enabled": true}]}}""";
        await fixture.SendRawAsync(UpdateMarketingPermissions.Queue, Encoding.UTF8.GetBytes(command));

        var result = await fixture.Results.WaitForAsync("fault-mp");
        Assert.Equal((MarketingPermissionsUpdateFailed.Exchange, 500), (result.Exchange, result.Status));
        Assert.Equal("internal_server_error", result.Body.GetProperty("code").GetString());
        var kept = Assert.Single(await fixture.WaitForErrorQueueAsync(UpdateMarketingPermissions.Queue));
        Assert.Equal(command, Encoding.UTF8.GetString(kept.Body.Span));
        Assert.Contains("injected fault", Encoding.UTF8.GetString((byte[])kept.BasicProperties.Headers!["MT-Fault-Message"]!));
    }

    [Fact]
    public async Task A_promotion_list_update_that_keeps_failing_is_a_500_server_error()
    {
        await BreakWritesAsync("mt_doc_customerpromotionlist", "123");

        await fixture.SendRawAsync(UpdateCustomerPromotionList.Queue, Encoding.UTF8.GetBytes(
            """{"correlationId": "fault-cpl", "id": 123, "body": {"promotionListId": 777, "customerId": 111}}"""));

        var result = await fixture.Results.WaitForAsync("fault-cpl");
        Assert.Equal((CustomerPromotionListUpdateFailed.Exchange, 500), (result.Exchange, result.Status));
        Assert.Equal("""{"error":"server_error","error_description":"Oops! Something went wrong..."}""", result.Body.GetRawText());
        Assert.Single(await fixture.WaitForErrorQueueAsync(UpdateCustomerPromotionList.Queue));
    }
}
