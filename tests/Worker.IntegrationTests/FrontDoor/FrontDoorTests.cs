using System.Text.Json;
using Worker.IntegrationTests.Infrastructure;
using Worker.IntegrationTests.MarketingPermissions;

namespace Worker.IntegrationTests.FrontDoor;

[Collection(WorkerCollection.Name)]
public sealed class FrontDoorTests(WorkerFixture fixture) : FrontDoorScenario(fixture)
{
    const string PaywayPath = "/external/api/v1/marketing_permissions/update";
    const string Account = "585a4768edce2c5e6f000001";

    // The bodies of the seeds' curl examples, as they are written there.
    const string PexipSeedBody = """{"description":"string","code":"string"}""";
    const string PaywaySeedBody = UpdateMarketingPermissionsTests.SeedExample;

    [Fact]
    public async Task Its_own_requests_are_counted_at_metrics_on_a_listener_of_its_own()
    {
        var (status, _, _) = await SendAsync(Request(HttpMethod.Patch, "/enterprises/acme/lead-segments/1234",
            PexipSeedBody, SeedJwt));
        Assert.Equal(200, status);

        // On the metrics listener only.
        Assert.Equal(404, (int)(await Http.GetAsync("/metrics")).StatusCode);
        using var scraper = new HttpClient();
        var exposition = await scraper.GetStringAsync($"http://127.0.0.1:{MetricsPort}/metrics");
        Assert.Equal(404, (int)(await scraper.GetAsync($"http://127.0.0.1:{MetricsPort}/enterprises/acme/lead-segments/1234")).StatusCode);

        Assert.Matches(new System.Text.RegularExpressions.Regex(
            @"^http_server_request_duration_seconds_count\{[^}]*http_route=""/enterprises/\{enterprise\}/lead-segments/\{id\}""[^}]*\} [1-9]",
            System.Text.RegularExpressions.RegexOptions.Multiline), exposition);
        Assert.Contains("# TYPE dotnet_gc_collections_total counter", exposition);
    }

    [Fact]
    public async Task The_lead_segment_seed_example_is_answered_by_the_worker_with_its_correlation_id()
    {
        var (status, body, response) = await SendAsync(Request(HttpMethod.Patch, "/enterprises/acme/lead-segments/1234",
            PexipSeedBody, SeedJwt, correlationId: "a4f0048e-c983-11ed-afa1-0242ac120002"));

        Assert.Equal(200, status);
        Assert.Equal("a4f0048e-c983-11ed-afa1-0242ac120002", response.Headers.GetValues("X-Correlation-Id").Single());
        Assert.Equal("string", body.GetProperty("data").GetProperty("code").GetString());
        var stored = (await Fixture.ReadDocumentAsync("mt_doc_leadsegment", "acme", "1234"))!.Value;
        Assert.Equal("string", stored.GetProperty("code").GetString());
        Assert.Equal(DateTimeOffset.Parse(stored.GetProperty("updatedAt").GetString()!),
            DateTimeOffset.Parse(body.GetProperty("data").GetProperty("updatedAt").GetString()!));
    }

    [Fact]
    public async Task The_payway_seed_example_is_answered_with_the_account_id_and_a_generated_correlation_id()
    {
        var (status, body, response) = await SendAsync(Request(HttpMethod.Put, PaywayPath, PaywaySeedBody, "token"));

        Assert.Equal(200, status);
        Assert.Equal(Account, body.GetProperty("id").GetString());
        Assert.True(Guid.TryParse(response.Headers.GetValues("X-Correlation-Id").Single(), out _));
        var permissions = (await Fixture.ReadDocumentAsync("mt_doc_account", "*DEFAULT*", Account))!.Value
            .GetProperty("marketingPermissions");
        Assert.True(permissions.GetProperty("5b9707e317c0f859830000c3").GetBoolean());
        Assert.True(permissions.GetProperty("5b9707e317c0f859830000c7").GetBoolean());
        Assert.False(permissions.GetProperty("5b9707e317c0f859830000cb").GetBoolean());
    }

    [Theory]
    [InlineData("update-lead-segment.sh", "data")]
    [InlineData("update-marketing-permissions.sh", "id")]
    public async Task The_seeds_curl_examples_work_as_written(string script, string property)
    {
        var start = new System.Diagnostics.ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(LocalServices.RepositoryRoot(), "samples", "curl", script));
        start.Environment["FRONT_DOOR"] = Http.BaseAddress!.ToString().TrimEnd('/');
        using var curl = System.Diagnostics.Process.Start(start)!;
        var output = await curl.StandardOutput.ReadToEndAsync();
        await curl.WaitForExitAsync();

        Assert.Equal(0, curl.ExitCode);
        var body = JsonDocument.Parse(output).RootElement;
        Assert.True(body.TryGetProperty(property, out _), output);
        Assert.False(body.TryGetProperty("errors", out _) || body.TryGetProperty("code", out _), output);
    }

    [Fact]
    public async Task A_failed_result_is_relayed_verbatim()
    {
        var (status, body, _) = await SendAsync(Request(HttpMethod.Patch, "/enterprises/acme/lead-segments/1234",
            """{"code":"REPEATVISITOR"}""", SeedJwt));

        Assert.Equal(422, status);
        Assert.Equal("LEAD_SEGMENT_CODE_ALREADY_IN_USE", body.GetProperty("errors")[0].GetProperty("code").GetString());
    }

    [Fact]
    public async Task Both_promotion_list_addresses_reach_the_worker()
    {
        var byId = await SendAsync(Request(HttpMethod.Put, "/api/v1.0/customerPromotionLists/123",
            """{"promotionListId":777,"customerId":1335}""", "token"));
        Assert.Equal(200, byId.Status);
        Assert.Equal(777, byId.Body.GetProperty("promotionList").GetProperty("id").GetInt64());

        var byReference = await SendAsync(Request(HttpMethod.Put, "/api/v1.0/customerPromotionLists/reference/C-002/PL-001",
            """{"promotionListId":777,"customerId":1335}""", "token"));
        Assert.Equal(400, byReference.Status);
        Assert.Equal("already_assigned", byReference.Body.GetProperty("error").GetString());

        var notALong = await SendAsync(Request(HttpMethod.Put, "/api/v1.0/customerPromotionLists/abc",
            """{"promotionListId":777,"customerId":1335}""", "token"));
        Assert.Equal(400, notALong.Status);
        Assert.Equal("invalid_param_type", notALong.Body.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not-a-listed-token")]
    [InlineData("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.TflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")]
    public async Task Without_a_valid_token_each_api_answers_401_in_its_own_shape_and_nothing_changes(string? token)
    {
        var pexip = await SendAsync(Request(HttpMethod.Patch, "/enterprises/acme/lead-segments/1234", PexipSeedBody, token));
        Assert.Equal(401, pexip.Status);
        Assert.Equal("UNAUTHORIZED", pexip.Body.GetProperty("errors")[0].GetProperty("code").GetString());
        Assert.Equal("Bearer", pexip.Response.Headers.WwwAuthenticate.Single().Scheme);

        var payway = await SendAsync(Request(HttpMethod.Put, PaywayPath, PaywaySeedBody, token));
        Assert.Equal(401, payway.Status);
        Assert.Equal("unauthorized", payway.Body.GetProperty("code").GetString());

        var valomnia = await SendAsync(Request(HttpMethod.Put, "/api/v1.0/customerPromotionLists/123",
            """{"promotionListId":777,"customerId":1335}""", token));
        Assert.Equal(401, valomnia.Status);
        Assert.Equal("invalid_token", valomnia.Body.GetProperty("error").GetString());

        var stored = (await Fixture.ReadDocumentAsync("mt_doc_leadsegment", "acme", "1234"))!.Value;
        Assert.Equal("NEWCUSTOMER", stored.GetProperty("code").GetString());
    }

    [Fact]
    public async Task An_expired_jwt_is_refused_and_one_that_has_not_expired_is_let_in()
    {
        var expired = Jwt(new { sub = "1234567890", exp = DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds() });
        var (status, _, _) = await SendAsync(Request(HttpMethod.Patch, "/enterprises/acme/lead-segments/1234", PexipSeedBody, expired));
        Assert.Equal(401, status);

        var valid = Jwt(new { sub = "1234567890", exp = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeSeconds() });
        (status, _, _) = await SendAsync(Request(HttpMethod.Patch, "/enterprises/acme/lead-segments/1234", PexipSeedBody, valid));
        Assert.Equal(200, status);
    }

    [Fact]
    public async Task A_jwt_signed_with_another_key_is_refused()
    {
        var forged = Jwt(new { sub = "1234567890", enterprises = new[] { "acme" } }, key: "another key entirely");
        var (status, _, _) = await SendAsync(Request(HttpMethod.Patch, "/enterprises/acme/lead-segments/1234", PexipSeedBody, forged));
        Assert.Equal(401, status);
    }

    [Fact]
    public async Task A_token_without_the_grant_gets_403_in_each_api_shape_and_nothing_changes()
    {
        var pexip = await SendAsync(Request(HttpMethod.Patch, "/enterprises/globex/lead-segments/1234", PexipSeedBody, SeedJwt));
        Assert.Equal(403, pexip.Status);
        Assert.Equal("FORBIDDEN", pexip.Body.GetProperty("errors")[0].GetProperty("code").GetString());

        // The seed JWT grants an enterprise, not Payway's scope; the opaque demo token grants scopes, no enterprise.
        var payway = await SendAsync(Request(HttpMethod.Put, PaywayPath, PaywaySeedBody, SeedJwt));
        Assert.Equal(403, payway.Status);
        Assert.Equal("forbidden", payway.Body.GetProperty("code").GetString());

        var pexipWithScopes = await SendAsync(Request(HttpMethod.Patch, "/enterprises/acme/lead-segments/1234", PexipSeedBody, "token"));
        Assert.Equal(403, pexipWithScopes.Status);

        var valomnia = await SendAsync(Request(HttpMethod.Put, "/api/v1.0/customerPromotionLists/123",
            """{"promotionListId":777,"customerId":1335}""", SeedJwt));
        Assert.Equal(403, valomnia.Status);
        Assert.Equal("insufficient_scope", valomnia.Body.GetProperty("error").GetString());

        Assert.Equal("NEWCUSTOMER", (await Fixture.ReadDocumentAsync("mt_doc_leadsegment", "acme", "1234"))!.Value
            .GetProperty("code").GetString());
        Assert.Equal("GLOBEX1", (await Fixture.ReadDocumentAsync("mt_doc_leadsegment", "globex", "1234"))!.Value
            .GetProperty("code").GetString());
    }

    [Fact]
    public async Task The_scope_claim_of_a_jwt_grants_what_it_names()
    {
        var scoped = Jwt(new { sub = "someone", scope = "openid /external/marketing_permission/w" });
        var (status, body, _) = await SendAsync(Request(HttpMethod.Put, PaywayPath, PaywaySeedBody, scoped));
        Assert.Equal(200, status);
        Assert.Equal(Account, body.GetProperty("id").GetString());
    }

    [Fact]
    public async Task A_body_that_is_not_json_or_not_sent_as_json_gets_each_api_documented_400()
    {
        var before = (await Fixture.ReadDocumentAsync("mt_doc_account", "*DEFAULT*", Account))!.Value.GetRawText();

        var notJson = await SendAsync(Request(HttpMethod.Put, PaywayPath, "{\"account_id\": ", "token"));
        Assert.Equal(400, notJson.Status);
        Assert.Equal("json_parser_error", notJson.Body.GetProperty("code").GetString());

        var wrongType = await SendAsync(Request(HttpMethod.Put, PaywayPath, PaywaySeedBody, "token", contentType: "text/plain"));
        Assert.Equal(400, wrongType.Status);
        Assert.Equal("invalid_content_type_error", wrongType.Body.GetProperty("code").GetString());

        var pexip = await SendAsync(Request(HttpMethod.Patch, "/enterprises/acme/lead-segments/1234", "not json", SeedJwt));
        Assert.Equal(400, pexip.Status);
        Assert.Equal("INVALID_COMMAND", pexip.Body.GetProperty("errors")[0].GetProperty("code").GetString());

        var valomnia = await SendAsync(Request(HttpMethod.Put, "/api/v1.0/customerPromotionLists/123", "<xml/>", "token"));
        Assert.Equal(400, valomnia.Status);
        Assert.Equal("invalid_request", valomnia.Body.GetProperty("error").GetString());

        Assert.Equal(before, (await Fixture.ReadDocumentAsync("mt_doc_account", "*DEFAULT*", Account))!.Value.GetRawText());
    }

    [Fact]
    public async Task A_result_that_does_not_come_in_time_gets_a_504_in_the_api_shape()
    {
        await StartAsync(settings: new Dictionary<string, string?> { ["FrontDoor:ResultTimeout"] = "00:00:00.001" });

        var (status, body, _) = await SendAsync(Request(HttpMethod.Put, PaywayPath, PaywaySeedBody, "token"));

        Assert.Equal(504, status);
        Assert.Equal("gateway_timeout", body.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Outside_Development_serve_refuses_to_start_without_an_issuer_or_with_the_demo_key()
    {
        var none = await Assert.ThrowsAsync<Hosting.StartupFailure>(() => StartAsync(environment: "Production"));
        Assert.Contains("FrontDoor__Authority", none.Message);

        var demo = await Assert.ThrowsAsync<Hosting.StartupFailure>(() => StartAsync(environment: "Production",
            new Dictionary<string, string?> { ["FrontDoor:JwtSigningKey"] = DemoKey, ["FrontDoor:Audience"] = "worker" }));
        Assert.Contains("152 bits", demo.Message);

        var noAudience = await Assert.ThrowsAsync<Hosting.StartupFailure>(() => StartAsync(environment: "Production",
            new Dictionary<string, string?> { ["FrontDoor:JwtSigningKey"] = new string('k', 32) }));
        Assert.Contains("FrontDoor:Audience", noAudience.Message);
    }

    [Fact]
    public async Task Outside_Development_a_256_bit_key_needs_audience_issuer_and_expiry_and_the_sample_tokens_are_refused()
    {
        var key = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        await StartAsync(environment: "Production", new Dictionary<string, string?>
        {
            ["FrontDoor:JwtSigningKey"] = key, ["FrontDoor:Audience"] = "worker", ["FrontDoor:Issuer"] = "https://issuer.test",
        });
        var exp = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeSeconds();
        async Task<int> PatchAsync(object claims) =>
            (await SendAsync(Request(HttpMethod.Patch, "/enterprises/acme/lead-segments/1234", PexipSeedBody, Jwt(claims, key)))).Status;

        Assert.Equal(200, await PatchAsync(new { enterprises = new[] { "acme" }, aud = "worker", iss = "https://issuer.test", exp }));
        Assert.Equal(401, await PatchAsync(new { enterprises = new[] { "acme" }, aud = "worker", iss = "https://issuer.test" }));
        Assert.Equal(401, await PatchAsync(new { enterprises = new[] { "acme" }, aud = "other", iss = "https://issuer.test", exp }));
        Assert.Equal(401, await PatchAsync(new { enterprises = new[] { "acme" }, aud = "worker", iss = "https://other.test", exp }));
        Assert.Equal(401, (await SendAsync(Request(HttpMethod.Patch, "/enterprises/acme/lead-segments/1234", PexipSeedBody, SeedJwt))).Status);
        Assert.Equal(401, (await SendAsync(Request(HttpMethod.Put, PaywayPath, PaywaySeedBody, "token"))).Status);
    }
}
