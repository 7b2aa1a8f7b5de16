using System.Text.Json.Nodes;
using System.Text;
using System.Text.Json;
using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;
using Worker.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Worker.IntegrationTests.HostileInput;

/// <summary>
/// Several hundred hostile messages per queue: each is answered with its API's documented 4xx (never a success,
/// never a 500), the worker keeps running, and no stored document changes.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class HostileInputTests(WorkerFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    static readonly string[] Tables =
    [
        "mt_doc_leadsegment", "mt_doc_account", "mt_events", "mt_doc_marketingpermission",
        "mt_doc_customer", "mt_doc_promotionlist", "mt_doc_customerpromotionlist",
    ];

    public Task InitializeAsync() => fixture.ResetAsync();
    public Task DisposeAsync() => Task.CompletedTask;

    sealed record Hostile(string Queue, byte[] Body, string? ContentType);

    [Fact]
    public async Task Every_hostile_message_gets_a_documented_refusal_and_changes_nothing()
    {
        var before = new Dictionary<string, string>();
        foreach (var table in Tables) before[table] = await fixture.SnapshotAsync(table);

        // Each refused command keeps what makes it refused (a code in use, "yes" for a boolean, an assignment that
        // does not exist) while the nested fields named here are broken as well.
        var corpus = Corpus(UpdateLeadSegment.Queue,
                """{"correlationId":"c","enterprise":"acme","id":"1234","body":{"code":"REPEATVISITOR","description":""}}""",
                ["correlationId", "enterprise", "id", "body"],
                n => n["body"]!.AsObject(), ["description", "earliestCallbackHours", "latestCallbackHours"])
            .Concat(Corpus(UpdateMarketingPermissions.Queue,
                """{"correlationId":"c","body":{"account_id":"585a4768edce2c5e6f000001","marketing_permissions":[{"id":"5b9707e317c0f859830000c3","enabled":"yes"}]}}""",
                ["correlationId", "body"],
                n => n["body"]!.AsObject(), ["account_id"]))
            .Concat(Corpus(UpdateMarketingPermissions.Queue,
                """{"correlationId":"c","body":{"account_id":"585a4768edce2c5e6f000001","marketing_permissions":[{"id":"5b9707e317c0f859830000c3","enabled":"yes"}]}}""",
                [], n => n["body"]!["marketing_permissions"]![0]!.AsObject(), ["id"], basics: false))
            .Concat(Corpus(UpdateCustomerPromotionList.Queue,
                """{"correlationId":"c","id":123,"body":{"promotionListId":50,"customerId":111}}""",
                ["correlationId", "id", "body"],
                n => n["body"]!.AsObject(), ["promotionListId", "customerId"]))
            .Concat(Corpus(UpdateCustomerPromotionList.Queue,
                """{"correlationId":"c","reference":{"customerId":"C-002","promotionListId":"PL-001"},"body":{"promotionListId":50,"customerId":111}}""",
                [], n => n["reference"]!.AsObject(), ["customerId", "promotionListId"], basics: false))
            .ToList();
        foreach (var queue in corpus.GroupBy(m => m.Queue)) Assert.True(queue.Count() >= 300, $"only {queue.Count()} for {queue.Key}");

        var ids = new List<(Guid Id, Hostile Message)>();
        foreach (var message in corpus)
        {
            var id = Guid.NewGuid();
            ids.Add((id, message));
            await fixture.SendRawAsync(message.Queue, message.Body, message.ContentType, messageId: id.ToString(),
                correlationId: id.ToString());
        }

        var statuses = new Dictionary<int, int>();
        foreach (var (id, message) in ids)
        {
            var result = await fixture.Results.WaitForCommandAsync(id);
            statuses[result.Status] = statuses.GetValueOrDefault(result.Status) + 1;
            Assert.True(result.Status is >= 400 and < 500,
                $"{message.Queue} {Encoding.UTF8.GetString(message.Body)[..Math.Min(200, message.Body.Length)]}: {result.Status} {result.Body}");
            Assert.EndsWith("-failed", result.Exchange);
        }
        output.WriteLine($"{corpus.Count} hostile messages: " + string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Value} × {s.Key}")));

        foreach (var table in Tables) Assert.Equal(before[table], await fixture.SnapshotAsync(table));
        Assert.Equal(200, (await fixture.Results.WaitForAsync(await SendValidAsync())).Status);
    }

    async Task<string> SendValidAsync()
    {
        var correlationId = Guid.NewGuid().ToString();
        await fixture.SendJsonAsync(UpdateLeadSegment.Queue, new { correlationId, enterprise = "acme", id = "1234", body = new { code = "SURVIVED" } });
        return correlationId;
    }

    static readonly string[] WrongValues = ["null", "0", "-1", "1.5", "1e400", "true", "false", "\"\"", "[]", "{}", "[1,2]",
        "\"" + new string('y', 5000) + "\"", "99999999999999999999999", "\"\\u0000\""];

    /// <summary>Several hundred variations of one command that the API refuses, none of them valid.</summary>
    /// <param name="nested">The object inside the command whose <paramref name="nestedFields"/> are broken too.</param>
    static IEnumerable<Hostile> Corpus(string queue, string refusedCommand, string[] topFields,
        Func<JsonNode, JsonObject> nested, string[] nestedFields, bool basics = true)
    {
        foreach (var field in nestedFields)
        {
            foreach (var value in WrongValues)
                yield return new(queue, Mutate(refusedCommand, n => nested(n)[field] = JsonNode.Parse(value)), "application/json");
            yield return new(queue, Mutate(refusedCommand, n => nested(n).Remove(field)), "application/json");
        }
        for (var i = 0; i < 50; i++)
            yield return new(queue, Mutate(refusedCommand, n => nested(n)[$"unknown{i}"] = JsonNode.Parse(i % 2 == 0 ? "\"x\"" : "[{\"a\":null}]")), "application/json");
        if (!basics) yield break;

        var bytes = Encoding.UTF8.GetBytes(refusedCommand);
        // Truncated JSON at every length (a prefix of a refused command is never a valid one).
        for (var length = 0; length < bytes.Length; length += Math.Max(1, bytes.Length / 150))
            yield return new(queue, bytes[..length], "application/json");
        yield return new(queue, [], null);
        yield return new(queue, [0x00, 0xff, 0xfe, 0xfd], "application/json");
        yield return new(queue, [0xc3, 0x28, 0xa0, 0xa1], null);
        yield return new(queue, Encoding.UTF8.GetBytes("\"" + new string('x', 300_000) + "\""), "application/json");
        yield return new(queue, Encoding.UTF8.GetBytes(new string('[', 5000) + new string(']', 5000)), "application/json");
        yield return new(queue, Encoding.UTF8.GetBytes("{\"correlationId\":\"c\",\"body\":" + new string('[', 200) + new string(']', 200) + "}"), "application/json");
        foreach (var contentType in new[] { "text/plain", "application/xml", "application/octet-stream", "application/x-www-form-urlencoded" })
            yield return new(queue, bytes, contentType);

        // Every top-level field replaced by a value of every wrong type, or removed.
        foreach (var field in topFields)
        {
            // An empty object as the body is a valid, empty PATCH of a lead segment: not hostile.
            foreach (var value in WrongValues.Where(v => !(field == "body" && v == "{}")))
                yield return new(queue, Replace(refusedCommand, field, value), "application/json");
            yield return new(queue, Remove(refusedCommand, field), "application/json");
        }
        // Unknown fields everywhere, ids that are absurd.
        for (var i = 0; i < 40; i++)
            yield return new(queue, Replace(refusedCommand, $"unknown{i}", i % 2 == 0 ? "\"x\"" : "{\"deep\":[1,{\"a\":null}]}"), "application/json");
    }

    static byte[] Mutate(string json, Action<JsonNode> change)
    {
        var node = JsonNode.Parse(json)!;
        change(node);
        return Encoding.UTF8.GetBytes(node.ToJsonString());
    }

    static byte[] Replace(string json, string field, string value)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        node[field] = System.Text.Json.Nodes.JsonNode.Parse(value);
        return Encoding.UTF8.GetBytes(node.ToJsonString());
    }

    static byte[] Remove(string json, string field)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        node.Remove(field);
        return Encoding.UTF8.GetBytes(node.ToJsonString());
    }
}
