using System.Diagnostics;
using System.Text.Json;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.Contract;

/// <summary>
/// docs/asyncapi.yaml checked by the AsyncAPI project's own parser (tools/asyncapi, with its examples checked against
/// their schemas), and its promises checked against the running worker: every command example, sent to its queue,
/// gets the result example of the same name, on that example's exchange.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class AsyncApiDocumentTests(WorkerFixture fixture)
{
    static readonly string Document = Path.Combine(LocalServices.RepositoryRoot(), "docs", "asyncapi.yaml");

    // Values that differ on every run: when the change happened.
    static readonly HashSet<string> Volatile = ["updatedAt", "lastUpdated", "commandMessageId"];

    [Fact]
    public async Task The_document_is_valid_AsyncAPI_and_names_every_queue_and_exchange()
    {
        var document = await CheckAsync(Document);

        Assert.Equal("3.0.0", document.GetProperty("asyncapi").GetString());
        var addresses = Channels(document).Select(c => c.Address).ToHashSet();
        foreach (var name in WorkerFixture.CommandQueues.Concat(WorkerFixture.ResultExchanges)) Assert.Contains(name, addresses);
    }

    [Fact]
    public async Task The_checker_refuses_an_example_that_breaks_its_schema()
    {
        var broken = Path.Combine(Path.GetTempPath(), $"asyncapi-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(broken, (await File.ReadAllTextAsync(Document))
            .Replace("account_id: 585a4768edce2c5e6f0000ff", "account_id: not-an-account-id"));
        try
        {
            var (exitCode, _, errors) = await RunCheckerAsync(broken);
            Assert.NotEqual(0, exitCode);
            Assert.Contains("account_id", errors);
        }
        finally
        {
            File.Delete(broken);
        }
    }

    [Fact]
    public async Task Every_command_example_gets_the_result_the_document_promises()
    {
        var channels = Channels(await CheckAsync(Document)).ToList();
        // The partitioned exchanges take the queues' own commands (the fault tests send through them).
        var promised = channels.Where(c => !c.IsQueue && !c.Address.EndsWith(".partitioned"))
            .SelectMany(c => c.Examples.Select(e => (c.Address, Example: e)))
            .ToDictionary(p => p.Example.GetProperty("name").GetString()!);
        var sent = 0;
        // Each command names a reply address too (RabbitMQ's RPC pattern), where the same event must arrive.
        await using var requester = await ReplyClient.StartAsync(fixture.Services.RabbitMq, ownQueue: true);
        foreach (var queue in channels.Where(c => c.IsQueue))
        {
            foreach (var example in queue.Examples)
            {
                var name = example.GetProperty("name").GetString()!;
                var payload = example.GetProperty("payload");
                await fixture.ResetAsync();
                var messageId = Guid.NewGuid();
                await requester.SendAsync("", queue.Address, JsonSerializer.SerializeToUtf8Bytes(payload), name, messageId.ToString());
                var result = await fixture.Results.WaitForCommandAsync(messageId);
                Assert.Equal(result.Raw, (await requester.WaitForAsync(name)).Raw);

                Assert.True(promised.TryGetValue(name, out var promise), $"no result example named {name}");
                Assert.Equal(promise.Address, result.Exchange);
                AssertSame(promise.Example.GetProperty("payload"), result.Event, $"{queue.Address} {name}");
                sent++;
            }
        }
        Assert.True(sent >= 6, $"only {sent} command examples");
    }

    [Fact]
    public async Task Every_command_is_answered_at_the_reply_to_it_names_with_its_operations_result_events()
    {
        var document = await CheckAsync(Document);
        var channels = document.GetProperty("channels");
        var receiving = document.GetProperty("operations").EnumerateObject()
            .Where(o => o.Value.GetProperty("action").GetString() == "receive").ToList();
        Assert.Equal(6, receiving.Count);
        foreach (var operation in receiving)
        {
            Assert.True(operation.Value.TryGetProperty("reply", out var reply), $"{operation.Name} has no reply");
            Assert.Equal("$message.header#/replyTo", reply.GetProperty("address").GetProperty("location").GetString());
            // The reply channel carries the two result events of the command's operation, as its exchanges do.
            var command = operation.Value.GetProperty("channel").GetProperty("messages").EnumerateObject().Single().Value;
            var replies = reply.GetProperty("channel").GetProperty("messages").EnumerateObject()
                .Select(m => m.Value.GetProperty("name").GetString()).Order().ToList();
            var results = channels.EnumerateObject().Select(c => c.Value)
                .Where(c => c.GetProperty("address").GetString() is { } address && !address.StartsWith("update-"))
                .SelectMany(c => c.GetProperty("messages").EnumerateObject().Select(m => m.Value.GetProperty("name").GetString()))
                .Where(name => name!.StartsWith(command.GetProperty("name").GetString()!["Update".Length..]))
                .Order().ToList();
            Assert.Equal(2, replies.Count);
            Assert.Equal(results, replies);
        }
    }

    [Fact]
    public async Task The_contract_page_names_every_channel_and_exactly_the_error_codes_of_the_AsyncAPI_document()
    {
        var document = await CheckAsync(Document);
        var contract = await File.ReadAllTextAsync(Path.Combine(LocalServices.RepositoryRoot(), "docs", "contract.md"));

        foreach (var channel in Channels(document))
            Assert.True(contract.Contains($"`{channel.Address}`"), $"docs/contract.md does not name {channel.Address}");

        // The error catalog's rows: | status | `code` | ...
        var catalog = System.Text.RegularExpressions.Regex.Matches(contract, @"^\| [0-9]{3} \| `([^`]+)` \|",
            System.Text.RegularExpressions.RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToHashSet();
        // The AsyncAPI document's: every enum or example of an error body's "code" or "error".
        var documented = ErrorCodes(document.GetProperty("components").GetProperty("schemas")).ToHashSet();
        Assert.True(catalog.Count >= 16, $"only {catalog.Count} codes found in docs/contract.md");
        Assert.Equal(documented.Order(), catalog.Order());
    }

    static IEnumerable<string> ErrorCodes(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Array)
            return element.EnumerateArray().SelectMany(ErrorCodes);
        if (element.ValueKind != JsonValueKind.Object) return [];
        var own = element.EnumerateObject()
            .Where(p => p.Name is "code" or "error" && p.Value.ValueKind == JsonValueKind.Object)
            .SelectMany(p => p.Value.EnumerateObject().Where(list => list.Name is "enum" or "examples"))
            .SelectMany(list => list.Value.EnumerateArray().Select(code => code.GetString()!));
        return own.Concat(element.EnumerateObject().SelectMany(p => ErrorCodes(p.Value)));
    }

    sealed record Channel(string Address, bool IsQueue, IReadOnlyList<JsonElement> Examples);

    /// <summary>The channels with a fixed address: queues and exchanges (a reply channel's address is the command's).</summary>
    static IEnumerable<Channel> Channels(JsonElement document) =>
        document.GetProperty("channels").EnumerateObject().Select(c => c.Value)
            .Where(c => c.GetProperty("address").ValueKind == JsonValueKind.String).Select(c => new Channel(
            c.GetProperty("address").GetString()!,
            c.GetProperty("bindings").GetProperty("amqp").GetProperty("is").GetString() == "queue",
            c.GetProperty("messages").EnumerateObject()
                .SelectMany(m => m.Value.TryGetProperty("examples", out var e) ? e.EnumerateArray() : Enumerable.Empty<JsonElement>())
                .ToList()));

    // Every property the example shows is in the event with the same value, apart from timestamps and ids of the run.
    static void AssertSame(JsonElement expected, JsonElement actual, string path)
    {
        if (expected.ValueKind == JsonValueKind.Object)
        {
            Assert.True(actual.ValueKind == JsonValueKind.Object, $"{path}: expected an object, got {actual}");
            foreach (var property in expected.EnumerateObject().Where(p => !Volatile.Contains(p.Name)))
            {
                Assert.True(actual.TryGetProperty(property.Name, out var value), $"{path}.{property.Name} is missing in {actual}");
                AssertSame(property.Value, value, $"{path}.{property.Name}");
            }
            return;
        }
        if (expected.ValueKind == JsonValueKind.Array)
        {
            Assert.Equal(expected.GetArrayLength(), actual.GetArrayLength());
            foreach (var (e, a) in expected.EnumerateArray().Zip(actual.EnumerateArray())) AssertSame(e, a, $"{path}[]");
            return;
        }
        Assert.True(JsonElement.DeepEquals(expected, actual), $"{path}: expected {expected}, got {actual}");
    }

    static async Task<JsonElement> CheckAsync(string document)
    {
        var (exitCode, output, errors) = await RunCheckerAsync(document);
        Assert.True(exitCode == 0, $"the AsyncAPI check failed:\n{errors}");
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    static async Task<(int ExitCode, string Output, string Errors)> RunCheckerAsync(string document)
    {
        var tools = Path.Combine(LocalServices.RepositoryRoot(), "tools", "asyncapi");
        var start = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = tools };
        start.ArgumentList.Add("check.mjs");
        start.ArgumentList.Add(document);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output, await errors);
    }
}
