using System.Text;
using System.Text.Json;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;

namespace Worker.IntegrationTests.Reliability;

/// <summary>One command of a stream, with the answer that applying the stream's commands one by one, in order, gives.</summary>
/// <param name="DocumentKey">The routing key for the operation's partitioned exchange: the document the command changes.</param>
/// <param name="Expected">For a lead segment answered with 200: the segment as that answer must show it.</param>
public sealed record StreamCommand(string Queue, string CorrelationId, string MessageId, byte[] Body, int ExpectedStatus,
    string DocumentKey, SegmentState? Expected = null)
{
    /// <summary>Whether the status depends only on the command, not on what came before it for its document.</summary>
    public bool StatusIgnoresOrder => ExpectedStatus == 400 || Queue != UpdateLeadSegment.Queue;
}

/// <summary>The fields of a lead segment the stream changes.</summary>
public sealed record SegmentState(string? Description, int? EarliestCallbackHours, int? LatestCallbackHours);

/// <summary>
/// A stream of lead-segment and marketing-permission commands over a few documents, about 10% of them invalid and a
/// few not JSON at all, together with the answer each command gets and what the documents look like when the commands
/// are applied one by one in publish order: the serial model every fault test holds the worker to. A lead segment's
/// commands change different fields in turn (description, earliest and latest callback hours), and some set callback
/// hours that only the order makes acceptable or not (422), so that a command applied out of its turn changes an
/// answer, not only the final document.
/// </summary>
public sealed class MixedCommandStream
{
    public const string Enterprise = "load";
    const string Newsletter = "5b9707e317c0f859830000c3";

    public List<StreamCommand> Commands { get; } = [];
    /// <summary>Each lead segment as the whole stream leaves it.</summary>
    public Dictionary<string, SegmentState> Segments { get; } = [];
    public Dictionary<string, bool?> NewsletterByAccount { get; } = [];
    public Dictionary<string, int> HistoryByAccount { get; } = [];
    public HashSet<string> UnreadableBodies { get; } = [];
    public int SegmentCount { get; }
    public int Accounts { get; }

    public MixedCommandStream(int count, int segments = 20, int accounts = 10, string run = "")
    {
        SegmentCount = segments;
        Accounts = accounts;
        for (var k = 0; k < segments; k++) Segments[SegmentId(k)] = new SegmentState("start", null, null);
        for (var a = 0; a < accounts; a++) { NewsletterByAccount[AccountId(a)] = null; HistoryByAccount[AccountId(a)] = 0; }

        for (var i = 0; i < count; i++)
        {
            var correlationId = $"stream{run}-{i}";
            var messageId = Guid.NewGuid().ToString();
            if (i % 400 == 399)
            {
                var garbage = $"not json {run} {i}";
                UnreadableBodies.Add(garbage);
                Commands.Add(new(UpdateLeadSegment.Queue, correlationId, messageId, Encoding.UTF8.GetBytes(garbage), 400, correlationId));
            }
            else if (i % 2 == 0)
            {
                var id = SegmentId(i / 2 % segments);
                var round = i / 2 / segments;
                var state = Segments[id];
                var (body, next) = (i % 20 == 10, round % 4) switch
                {
                    (true, _) => ((object)new Dictionary<string, object?> { ["code"] = null }, (SegmentState?)null),
                    (_, 0) => (new { description = $"d{i}" }, state with { Description = $"d{i}" }),
                    (_, 1) => (new { earliestCallbackHours = round % 13 }, state with { EarliestCallbackHours = round % 13 }),
                    (_, 2) => (new { latestCallbackHours = round * 7 % 17 }, state with { LatestCallbackHours = round * 7 % 17 }),
                    _ => (new { description = $"d{i}", earliestCallbackHours = round % 5 },
                        state with { Description = $"d{i}", EarliestCallbackHours = round % 5 }),
                };
                // The API's rule: earliest callback hours may not exceed the latest.
                var status = next is null ? 400
                    : next is { EarliestCallbackHours: { } earliest, LatestCallbackHours: { } latest } && earliest > latest ? 422
                    : 200;
                if (status == 200) Segments[id] = next!;
                Commands.Add(new(UpdateLeadSegment.Queue, correlationId, messageId,
                    JsonSerializer.SerializeToUtf8Bytes(new { correlationId, enterprise = Enterprise, id, body }), status,
                    $"{Enterprise}/{id}", status == 200 ? next : null));
            }
            else
            {
                var account = AccountId(i / 2 % accounts);
                var invalid = i % 20 == 11;
                var enabled = (i / 2 / accounts) % 3 != 0;
                object value = invalid ? "yes" : enabled;
                if (!invalid)
                {
                    if (NewsletterByAccount[account] != enabled) HistoryByAccount[account]++;
                    NewsletterByAccount[account] = enabled;
                }
                var body = new { account_id = account, marketing_permissions = new[] { new { id = Newsletter, enabled = value } } };
                Commands.Add(new(UpdateMarketingPermissions.Queue, correlationId, messageId,
                    JsonSerializer.SerializeToUtf8Bytes(new { correlationId, body }), invalid ? 400 : 200, account));
            }
        }
    }

    public static string SegmentId(int k) => $"seg-{k}";

    public static string AccountId(int a) => $"{0xabc000 + a:x24}";

    /// <summary>The documents the stream works on, as a demo-data file.</summary>
    public string SeedFile()
    {
        var segments = Enumerable.Range(0, SegmentCount).Select(k => new
        {
            enterprise = Enterprise, id = SegmentId(k), code = $"LOAD{k}", description = "start",
            createdAt = "2024-01-01T00:00:00.000Z", updatedAt = "2024-01-01T00:00:00.000Z",
        });
        var accounts = Enumerable.Range(0, Accounts).Select(a => new
        {
            id = AccountId(a), name = $"load {a}", marketingPermissions = new Dictionary<string, bool>(),
            updatedAt = "2024-01-01T00:00:00.000Z",
        });
        var definitions = new[] { new { id = Newsletter, name = "Newsletter", type = "email", active = true } };
        var path = Path.Combine(Path.GetTempPath(), $"stream-seed-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, JsonSerializer.Serialize(new
        {
            leadSegments = segments, marketingPermissions = new { definitions, accounts },
        }));
        return path;
    }

    public static string NewsletterPermission => Newsletter;
}
