using System.Text;
using System.Text.Json;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;

namespace Worker.IntegrationTests.Reliability;

/// <summary>One command of a stream, with the status it must be answered with.</summary>
/// <param name="DocumentKey">The routing key for the operation's partitioned exchange: the document the command changes.</param>
public sealed record StreamCommand(string Queue, string CorrelationId, string MessageId, byte[] Body, int ExpectedStatus,
    string DocumentKey);

/// <summary>
/// A stream of lead-segment and marketing-permission commands over a few documents, about 10% of them failing on
/// a rule and a few not JSON at all, together with what the documents must look like after applying each command
/// once, in order per document.
/// </summary>
public sealed class MixedCommandStream
{
    public const string Enterprise = "load";
    const string Newsletter = "5b9707e317c0f859830000c3";

    public List<StreamCommand> Commands { get; } = [];
    public Dictionary<string, string> Descriptions { get; } = [];
    public Dictionary<string, bool?> NewsletterByAccount { get; } = [];
    public Dictionary<string, int> HistoryByAccount { get; } = [];
    public HashSet<string> UnreadableBodies { get; } = [];
    public int Segments { get; }
    public int Accounts { get; }

    public MixedCommandStream(int count, int segments = 20, int accounts = 10, string run = "")
    {
        Segments = segments;
        Accounts = accounts;
        for (var k = 0; k < segments; k++) Descriptions[SegmentId(k)] = "start";
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
                var invalid = i % 20 == 10;
                object body = invalid ? new Dictionary<string, object?> { ["code"] = null } : new { description = $"d{i}" };
                if (!invalid) Descriptions[id] = $"d{i}";
                Commands.Add(new(UpdateLeadSegment.Queue, correlationId, messageId,
                    JsonSerializer.SerializeToUtf8Bytes(new { correlationId, enterprise = Enterprise, id, body }), invalid ? 400 : 200,
                    $"{Enterprise}/{id}"));
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
        var segments = Enumerable.Range(0, Segments).Select(k => new
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
