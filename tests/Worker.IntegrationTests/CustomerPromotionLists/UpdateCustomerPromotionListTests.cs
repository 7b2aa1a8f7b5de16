using System.Text;
using System.Text.Json;
using Contracts.CustomerPromotionLists;
using Worker.CustomerPromotionLists;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.CustomerPromotionLists;

[Collection(WorkerCollection.Name)]
public sealed class UpdateCustomerPromotionListTests(WorkerFixture fixture) : IAsyncLifetime
{
    const string Table = "mt_doc_customerpromotionlist";

    public Task InitializeAsync() => fixture.ResetAsync();

    public async Task DisposeAsync()
    {
        await using var command = fixture.Database.CreateCommand($"drop trigger if exists test_skip_writes on {Table}");
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Sends <c>{"correlationId", ...addressing, "body"}</c> as raw JSON; <paramref name="fields"/> is the rest of the command.</summary>
    async Task<ReceivedResult> UpdateAsync(string fields)
    {
        var correlationId = Guid.NewGuid().ToString();
        await fixture.SendRawAsync(UpdateCustomerPromotionList.Queue,
            Encoding.UTF8.GetBytes($$$"""{"correlationId": "{{{correlationId}}}", {{{fields}}}}"""));
        return await fixture.Results.WaitForAsync(correlationId);
    }

    static JsonElement Success(ReceivedResult result)
    {
        Assert.Equal((CustomerPromotionListUpdated.Exchange, 200), (result.Exchange, result.Status));
        return result.Body;
    }

    static void Failure(ReceivedResult result, int status, string error, string? description = null)
    {
        Assert.Equal((CustomerPromotionListUpdateFailed.Exchange, status), (result.Exchange, result.Status));
        Assert.Equal(error, result.Body.GetProperty("error").GetString());
        Assert.NotEmpty(result.Body.GetProperty("error_description").GetString()!);
        if (description is not null) Assert.Equal(description, result.Body.GetProperty("error_description").GetString());
        Assert.Equal(2, result.Body.EnumerateObject().Count());
    }

    [Fact]
    public async Task The_seed_example_moves_assignment_123_to_customer_111_on_list_777()
    {
        var body = Success(await UpdateAsync("""
            "id": 123, "body": {"promotionListId": 777, "customerId": 111}
            """));

        Assert.Equal(123, body.GetProperty("id").GetInt64());
        Assert.Equal("C-111", body.GetProperty("customerReference").GetString());
        Assert.Equal("PL-777", body.GetProperty("promotionListReference").GetString());
        Assert.Equal("""{"id":111,"reference":"C-111","name":"cus1","href":"/api/v1.0/customers/111"}""", body.GetProperty("customer").GetRawText());
        Assert.Equal("""{"id":777,"reference":"PL-777","href":"/api/v1.0/promotionLists/777"}""", body.GetProperty("promotionList").GetRawText());
        Assert.Equal("Lyon", body.GetProperty("organization").GetString());
        Assert.Equal("2016-08-22T14:43:17Z", body.GetProperty("dateCreated").GetString());
        Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", body.GetProperty("lastUpdated").GetString());
        Assert.True(DateTimeOffset.Parse(body.GetProperty("lastUpdated").GetString()!) > DateTimeOffset.UtcNow.AddMinutes(-1));
    }

    [Fact]
    public async Task Success_changes_the_links_and_lastUpdated_and_nothing_else()
    {
        var before = (await fixture.ReadDocumentAsync(Table, "*DEFAULT*", "123"))!.Value;

        Success(await UpdateAsync("""
            "id": 123, "body": {"promotionListId": 777, "customerId": 111}
            """));

        var after = (await fixture.ReadDocumentAsync(Table, "*DEFAULT*", "123"))!.Value;
        var changed = after.EnumerateObject()
            .Where(p => p.Value.GetRawText() != before.GetProperty(p.Name).GetRawText())
            .Select(p => p.Name).Order();
        Assert.Equal(["customerId", "customerReference", "lastUpdated", "promotionListId", "promotionListReference"], changed);
    }

    [Fact]
    public async Task An_assignment_can_be_addressed_by_its_customer_and_promotion_list_references()
    {
        var body = Success(await UpdateAsync("""
            "reference": {"customerId": "C-002", "promotionListId": "PL-001"}, "body": {"promotionListId": 777, "customerId": 1335}
            """));

        Assert.Equal(305, body.GetProperty("id").GetInt64());
        Assert.Equal("PL-777", body.GetProperty("promotionListReference").GetString());
        var stored = (await fixture.ReadDocumentAsync(Table, "*DEFAULT*", "305"))!.Value;
        Assert.Equal(777, stored.GetProperty("promotionListId").GetInt64());
    }

    [Theory]
    [InlineData("\"id\": \"123\", \"body\": {\"promotionListId\": 777, \"customerId\": 111}", "id")]
    [InlineData("\"id\": 12.5, \"body\": {\"promotionListId\": 777, \"customerId\": 111}", "id")]
    [InlineData("\"id\": true, \"body\": {\"promotionListId\": 777, \"customerId\": 111}", "id")]
    [InlineData("\"id\": 9223372036854775808, \"body\": {\"promotionListId\": 777, \"customerId\": 111}", "id")]
    [InlineData("\"id\": 123, \"body\": {\"promotionListId\": \"777\", \"customerId\": 111}", "promotionListId")]
    [InlineData("\"id\": 123, \"body\": {\"promotionListId\": 777, \"customerId\": 1.5}", "customerId")]
    [InlineData("\"id\": 123, \"body\": {\"promotionListId\": 777, \"customerId\": -9223372036854775809}", "customerId")]
    [InlineData("\"reference\": {\"customerId\": 1335, \"promotionListId\": \"PL-001\"}, \"body\": {\"promotionListId\": 777, \"customerId\": 111}", "customerId")]
    public async Task A_parameter_of_the_wrong_type_is_invalid_param_type_naming_it(string fields, string parameter)
    {
        var before = await fixture.SnapshotAsync(Table);

        Failure(await UpdateAsync(fields), 400, ValomniaErrors.InvalidParamType,
            $"The type of parameter {parameter} you provided is not valid for this request.");

        Assert.Equal(before, await fixture.SnapshotAsync(Table));
    }

    [Theory]
    [InlineData("\"id\": 123, \"body\": {\"customerId\": 111}", "promotionListId")]
    [InlineData("\"id\": 123, \"body\": {\"promotionListId\": 777}", "customerId")]
    [InlineData("\"id\": 123, \"body\": {\"promotionListId\": null, \"customerId\": 111}", "promotionListId")]
    [InlineData("\"id\": 123", "promotionListId")]
    [InlineData("\"body\": {\"promotionListId\": 777, \"customerId\": 111}", "id")]
    [InlineData("\"reference\": {\"promotionListId\": \"PL-001\"}, \"body\": {\"promotionListId\": 777, \"customerId\": 111}", "customerId")]
    public async Task A_missing_parameter_is_missing_param(string fields, string parameter)
    {
        Failure(await UpdateAsync(fields), 400, ValomniaErrors.MissingParam, $"{parameter} parameter is missing");
    }

    [Theory]
    [InlineData("\"id\": 999, \"body\": {\"promotionListId\": 777, \"customerId\": 111}", "The customerPromotionList with the id 999 doesn't exist.")]
    [InlineData("\"id\": 123, \"body\": {\"promotionListId\": 999, \"customerId\": 111}", "The promotionList with the id 999 doesn't exist.")]
    [InlineData("\"id\": 123, \"body\": {\"promotionListId\": 777, \"customerId\": 999}", "The customer with the id 999 doesn't exist.")]
    [InlineData("\"reference\": {\"customerId\": \"C-111\", \"promotionListId\": \"PL-001\"}, \"body\": {\"promotionListId\": 777, \"customerId\": 111}",
        "The customerPromotionList with the customer reference C-111 and the promotionList reference PL-001 doesn't exist.")]
    public async Task Unknown_assignments_customers_and_promotion_lists_are_not_found(string fields, string description)
    {
        var before = await fixture.SnapshotAsync(Table);

        Failure(await UpdateAsync(fields), 404, ValomniaErrors.NotFound, description);

        Assert.Equal(before, await fixture.SnapshotAsync(Table));
    }

    [Fact]
    public async Task A_customer_already_assigned_to_the_list_by_another_assignment_is_already_assigned()
    {
        var before = await fixture.SnapshotAsync(Table);

        Failure(await UpdateAsync("""
            "id": 123, "body": {"promotionListId": 10, "customerId": 1335}
            """), 400, ValomniaErrors.AlreadyAssigned, "customer is already assigned to promotionList.");

        Assert.Equal(before, await fixture.SnapshotAsync(Table));
    }

    [Fact]
    public async Task Keeping_its_own_customer_and_list_is_not_a_duplicate()
    {
        Success(await UpdateAsync("""
            "id": 305, "body": {"promotionListId": 10, "customerId": 1335}
            """));
    }

    [Fact]
    public async Task A_list_that_applies_to_all_customers_cannot_be_the_target()
    {
        var before = await fixture.SnapshotAsync(Table);

        Failure(await UpdateAsync("""
            "id": 123, "body": {"promotionListId": 50, "customerId": 111}
            """), 400, ValomniaErrors.AppliesToAllCustomers);

        Assert.Equal(before, await fixture.SnapshotAsync(Table));
    }

    [Fact]
    public async Task Two_concurrent_updates_to_the_same_customer_and_list_never_both_win()
    {
        for (var round = 0; round < 5; round++)
        {
            await fixture.ResetAsync();
            var first = Guid.NewGuid().ToString();
            var second = Guid.NewGuid().ToString();
            await Task.WhenAll(
                fixture.SendRawAsync(UpdateCustomerPromotionList.Queue, Encoding.UTF8.GetBytes(
                    $$$"""{"correlationId": "{{{first}}}", "id": 123, "body": {"promotionListId": 777, "customerId": 111}}""")),
                fixture.SendRawAsync(UpdateCustomerPromotionList.Queue, Encoding.UTF8.GetBytes(
                    $$$"""{"correlationId": "{{{second}}}", "id": 305, "body": {"promotionListId": 777, "customerId": 111}}""")));

            var results = new[] { await fixture.Results.WaitForAsync(first), await fixture.Results.WaitForAsync(second) };

            Assert.Equal([200, 400], results.Select(r => r.Status).Order());
            Failure(results.Single(r => r.Status == 400), 400, ValomniaErrors.AlreadyAssigned);
            await using var count = fixture.Database.CreateCommand(
                $"select count(*) from {Table} where data->>'customerId' = '111' and data->>'promotionListId' = '777'");
            Assert.Equal(1L, await count.ExecuteScalarAsync());
        }
    }

    [Fact]
    public async Task A_write_that_keeps_losing_to_other_writers_is_save_failed()
    {
        // A trigger that silently skips every write makes each attempt look like a lost race.
        await using (var command = fixture.Database.CreateCommand($"""
            create or replace function test_skip_writes() returns trigger language plpgsql as $$ begin return null; end $$;
            create trigger test_skip_writes before update on {Table} for each row execute function test_skip_writes();
            """))
            await command.ExecuteNonQueryAsync();

        Failure(await UpdateAsync("""
            "id": 123, "body": {"promotionListId": 777, "customerId": 111}
            """), 400, ValomniaErrors.SaveFailed, "Failed to save instance");
    }

    [Fact]
    public async Task A_message_that_is_not_json_is_refused_and_kept_in_the_error_queue()
    {
        await fixture.SendRawAsync(UpdateCustomerPromotionList.Queue, Encoding.UTF8.GetBytes("id=123&customerId=111"),
            correlationId: "valomnia-form");

        Failure(await fixture.Results.WaitForAsync("valomnia-form"), 400, ValomniaErrors.InvalidRequest);
        Assert.Single(await fixture.WaitForErrorQueueAsync(UpdateCustomerPromotionList.Queue));
    }
}
