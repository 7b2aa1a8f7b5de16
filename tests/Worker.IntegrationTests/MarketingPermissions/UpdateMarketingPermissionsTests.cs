using System.Text;
using System.Text.Json;
using Contracts.MarketingPermissions;
using Npgsql;
using Worker.IntegrationTests.Infrastructure;
using Worker.MarketingPermissions;

namespace Worker.IntegrationTests.MarketingPermissions;

[Collection(WorkerCollection.Name)]
public sealed class UpdateMarketingPermissionsTests(WorkerFixture fixture) : IAsyncLifetime
{
    const string Account = "585a4768edce2c5e6f000001";
    const string Newsletter = "5b9707e317c0f859830000c3";
    const string OwnOffers = "5b9707e317c0f859830000c7";
    const string PartnerOffers = "5b9707e317c0f859830000cb";
    const string Catalogue = "5b9707e317c0f859830000cf"; // inactive

    /// <summary>The seed's curl example, verbatim.</summary>
    public const string SeedExample = """
        {
        "account_id": "585a4768edce2c5e6f000001",
        "marketing_permissions": [
        {
        "id": "5b9707e317c0f859830000c3",
        "enabled": true
        },
        {
        "id": "5b9707e317c0f859830000c7",
        "enabled": true
        },
        {
        "id": "5b9707e317c0f859830000cb",
        "enabled": false
        }
        ]
        }
        """;

    public Task InitializeAsync() => fixture.ResetAsync();
    public Task DisposeAsync() => Task.CompletedTask;

    async Task<ReceivedResult> UpdateAsync(string body, string? messageId = null)
    {
        var correlationId = Guid.NewGuid().ToString();
        var command = $$"""{"correlationId": "{{correlationId}}", "body": {{body}}}""";
        await fixture.SendRawAsync(UpdateMarketingPermissions.Queue, Encoding.UTF8.GetBytes(command), messageId: messageId);
        return await fixture.Results.WaitForAsync(correlationId);
    }

    static JsonElement Failure(ReceivedResult result, int status, string code, string? field)
    {
        Assert.Equal(MarketingPermissionsUpdateFailed.Exchange, result.Exchange);
        Assert.Equal(status, result.Status);
        Assert.Equal(code, result.Body.GetProperty("code").GetString());
        Assert.NotEmpty(result.Body.GetProperty("message").GetString()!);
        if (field is null) Assert.False(result.Body.TryGetProperty("field", out _));
        else Assert.Equal(field, result.Body.GetProperty("field").GetString());
        return result.Body;
    }

    async Task<Dictionary<string, bool>> StoredPermissionsAsync(string account = Account)
    {
        var document = (await fixture.ReadDocumentAsync("mt_doc_account", "*DEFAULT*", account))!.Value;
        return document.GetProperty("marketingPermissions").Deserialize<Dictionary<string, bool>>()!;
    }

    async Task<List<JsonElement>> HistoryAsync(string account = Account)
    {
        await using var command = fixture.Database.CreateCommand(
            "select data::text from mt_events where stream_id = $1 order by version");
        command.Parameters.Add(new NpgsqlParameter { Value = account });
        var entries = new List<JsonElement>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) entries.Add(JsonDocument.Parse(reader.GetString(0)).RootElement.Clone());
        return entries;
    }

    [Fact]
    public async Task The_seed_example_succeeds_and_records_each_changed_value_in_the_history()
    {
        var result = await UpdateAsync(SeedExample);

        Assert.Equal(MarketingPermissionsUpdated.Exchange, result.Exchange);
        Assert.Equal(200, result.Status);
        Assert.Equal(Account, Assert.Single(result.Body.EnumerateObject()).Value.GetString());
        Assert.Equal("id", result.Body.EnumerateObject().Single().Name);
        var stored = await StoredPermissionsAsync();
        Assert.True(stored[Newsletter]);
        Assert.True(stored[OwnOffers]);
        Assert.False(stored[PartnerOffers]);

        // OwnOffers was already given: only the two real changes are history.
        var history = await HistoryAsync();
        Assert.Equal(2, history.Count);
        var newsletter = history.Single(h => h.GetProperty("permissionId").GetString() == Newsletter);
        Assert.False(newsletter.GetProperty("oldValue").GetBoolean());
        Assert.True(newsletter.GetProperty("newValue").GetBoolean());
        Assert.Equal(result.Event.GetProperty("correlationId").GetString(), newsletter.GetProperty("correlationId").GetString());
        var partners = history.Single(h => h.GetProperty("permissionId").GetString() == PartnerOffers);
        Assert.Equal(JsonValueKind.Null, partners.GetProperty("oldValue").ValueKind);
        Assert.False(partners.GetProperty("newValue").GetBoolean());
    }

    [Fact]
    public async Task An_update_that_changes_nothing_adds_no_history()
    {
        Assert.Equal(200, (await UpdateAsync(SeedExample)).Status);
        var version = await fixture.SnapshotAsync("mt_doc_account");

        Assert.Equal(200, (await UpdateAsync(SeedExample)).Status);

        Assert.Equal(2, (await HistoryAsync()).Count);
        Assert.Equal(version, await fixture.SnapshotAsync("mt_doc_account"));
    }

    [Fact]
    public async Task The_account_id_is_matched_case_insensitively()
    {
        var result = await UpdateAsync($$"""{"account_id": "585A4768EDCE2C5E6F000001", "marketing_permissions": [{"id": "{{Newsletter}}", "enabled": true}]}""");

        Assert.Equal(200, result.Status);
        Assert.True((await StoredPermissionsAsync())[Newsletter]);
    }

    [Theory]
    [InlineData("""{"marketing_permissions": [{"id": "5b9707e317c0f859830000c3", "enabled": true}]}""", "account_id")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f00000", "marketing_permissions": [{"id": "5b9707e317c0f859830000c3", "enabled": true}]}""", "account_id")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f00000g", "marketing_permissions": [{"id": "5b9707e317c0f859830000c3", "enabled": true}]}""", "account_id")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001\n", "marketing_permissions": [{"id": "5b9707e317c0f859830000c3", "enabled": true}]}""", "account_id")]
    [InlineData("""{"account_id": 585, "marketing_permissions": [{"id": "5b9707e317c0f859830000c3", "enabled": true}]}""", "account_id")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001"}""", "marketing_permissions")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": []}""", "marketing_permissions")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": {"id": "x"}}""", "marketing_permissions")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": ["5b9707e317c0f859830000c3"]}""", "marketing_permissions[0]")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"enabled": true}]}""", "marketing_permissions[0].id")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"id": "", "enabled": true}]}""", "marketing_permissions[0].id")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"id": 7, "enabled": true}]}""", "marketing_permissions[0].id")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"id": "5b9707e317c0f859830000c3"}]}""", "marketing_permissions[0].enabled")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"id": "5b9707e317c0f859830000c3", "enabled": "true"}]}""", "marketing_permissions[0].enabled")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"id": "5b9707e317c0f859830000c3", "enabled": 1}]}""", "marketing_permissions[0].enabled")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"id": "5b9707e317c0f859830000c3", "enabled": true}, {"id": "5b9707e317c0f859830000c3", "enabled": false}]}""", "marketing_permissions[1].id")]
    public async Task A_broken_parameter_is_an_invalid_parameter_naming_it_and_changes_nothing(string body, string field)
    {
        var before = await fixture.SnapshotAsync("mt_doc_account");

        Failure(await UpdateAsync(body), 400, PaywayErrors.InvalidParameter, field);

        Assert.Equal(before, await fixture.SnapshotAsync("mt_doc_account"));
        Assert.Empty(await HistoryAsync());
    }

    [Fact]
    public async Task The_same_permission_twice_with_the_same_value_is_applied_once()
    {
        var result = await UpdateAsync($$"""{"account_id": "{{Account}}", "marketing_permissions": [{"id": "{{Newsletter}}", "enabled": true}, {"id": "{{Newsletter}}", "enabled": true}]}""");

        Assert.Equal(200, result.Status);
        Assert.Single(await HistoryAsync());
    }

    [Theory]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"id": "5b9707e317c0f859830000c3", "enabled": true}], "source": "web"}""", "source")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"id": "5b9707e317c0f859830000c3", "enabled": true}, {"id": "5b9707e317c0f859830000c7", "enabled": true, "name": "x"}]}""", "marketing_permissions[1].name")]
    [InlineData("""{"account": "585a4768edce2c5e6f000001", "marketing_permissions": "bad"}""", "account")]
    public async Task A_field_the_api_does_not_define_is_an_unknown_parameter_naming_it(string body, string field)
    {
        Failure(await UpdateAsync(body), 400, PaywayErrors.UnknownParameter, field);
        Assert.Empty(await HistoryAsync());
    }

    [Fact]
    public async Task An_unknown_account_is_not_found()
    {
        var body = Failure(await UpdateAsync($$"""{"account_id": "aaaaaaaaaaaaaaaaaaaaaaaa", "marketing_permissions": [{"id": "{{Newsletter}}", "enabled": true}]}"""),
            404, PaywayErrors.NotFound, "account_id");
        Assert.Contains("aaaaaaaaaaaaaaaaaaaaaaaa", body.GetProperty("message").GetString());
    }

    [Fact]
    public async Task An_undefined_permission_is_not_found_and_nothing_of_the_command_is_applied()
    {
        var before = await fixture.SnapshotAsync("mt_doc_account");

        var body = Failure(await UpdateAsync($$"""{"account_id": "{{Account}}", "marketing_permissions": [{"id": "{{Newsletter}}", "enabled": true}, {"id": "ffffffffffffffffffffffff", "enabled": true}]}"""),
            404, PaywayErrors.NotFound, "marketing_permissions[1].id");

        Assert.Contains("ffffffffffffffffffffffff", body.GetProperty("message").GetString());
        Assert.Equal(before, await fixture.SnapshotAsync("mt_doc_account"));
        Assert.Empty(await HistoryAsync());
    }

    [Fact]
    public async Task An_inactive_permission_can_be_withdrawn_but_not_given()
    {
        Failure(await UpdateAsync($$"""{"account_id": "585a4768edce2c5e6f000002", "marketing_permissions": [{"id": "{{Catalogue}}", "enabled": true}]}"""),
            400, PaywayErrors.InvalidParameter, "marketing_permissions[0].enabled");
        Assert.Empty(await StoredPermissionsAsync("585a4768edce2c5e6f000002"));

        var withdrawn = await UpdateAsync($$"""{"account_id": "{{Account}}", "marketing_permissions": [{"id": "{{Catalogue}}", "enabled": false}]}""");

        Assert.Equal(200, withdrawn.Status);
        Assert.False((await StoredPermissionsAsync())[Catalogue]);
        Assert.Single(await HistoryAsync());
    }

    [Fact]
    public async Task A_body_that_is_not_json_is_a_json_parser_error_and_is_kept_in_the_error_queue()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"account_id\": \"585a4768edce2c5e6f000001\", ");
        await fixture.SendRawAsync(UpdateMarketingPermissions.Queue, bytes, correlationId: "payway-broken-json");

        var body = Failure(await fixture.Results.WaitForAsync("payway-broken-json"), 400, PaywayErrors.JsonParserError, null);

        Assert.Equal("Invalid json in request body", body.GetProperty("message").GetString());
        Assert.Equal(bytes, Assert.Single(await fixture.WaitForErrorQueueAsync(UpdateMarketingPermissions.Queue)).Body.ToArray());
    }

    [Fact]
    public async Task A_wrong_content_type_is_an_invalid_content_type_error()
    {
        var command = $$"""{"correlationId": "payway-xml", "body": {{SeedExample}}}""";
        await fixture.SendRawAsync(UpdateMarketingPermissions.Queue, Encoding.UTF8.GetBytes(command), "application/xml",
            correlationId: "payway-xml");

        Failure(await fixture.Results.WaitForAsync("payway-xml"), 400, PaywayErrors.InvalidContentTypeError, null);
        Assert.Single(await fixture.WaitForErrorQueueAsync(UpdateMarketingPermissions.Queue));
        Assert.Empty(await HistoryAsync());
    }

    [Fact]
    public async Task The_consent_history_is_append_only_in_the_database()
    {
        Assert.Equal(200, (await UpdateAsync(SeedExample)).Status);

        await using var update = fixture.Database.CreateCommand("update mt_events set data = '{}'");
        await Assert.ThrowsAsync<PostgresException>(() => update.ExecuteNonQueryAsync());
        await using var delete = fixture.Database.CreateCommand("delete from mt_events");
        await Assert.ThrowsAsync<PostgresException>(() => delete.ExecuteNonQueryAsync());
        Assert.Equal(2, (await HistoryAsync()).Count);
    }

    [Fact]
    public async Task A_redelivered_command_adds_no_second_history()
    {
        var messageId = Guid.NewGuid().ToString();
        var first = await UpdateAsync(SeedExample, messageId);
        await fixture.SendRawAsync(UpdateMarketingPermissions.Queue, Encoding.UTF8.GetBytes(
            $$"""{"correlationId": "{{first.Event.GetProperty("correlationId").GetString()}}", "body": {{SeedExample}}}"""), messageId: messageId);

        var results = await fixture.Results.WaitForAsync(first.Event.GetProperty("correlationId").GetString()!, 2);

        Assert.Equal(results[0].Event.GetRawText(), results[1].Event.GetRawText());
        Assert.Equal(2, (await HistoryAsync()).Count);
    }
}
