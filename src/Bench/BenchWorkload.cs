using System.Text.Json;
using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;

namespace Bench;

/// <summary>One command of the workload: which operation, its raw JSON body, and whether it must succeed.</summary>
/// <param name="DocumentKey">The routing key on the operation's partitioned exchange: the document the command changes.</param>
public sealed record WorkloadCommand(string Queue, string CorrelationId, Guid MessageId, byte[] Body, bool ShouldSucceed,
    string DocumentKey);

/// <summary>
/// A realistic mix of the three operations over a set of bench documents (enterprise <c>bench</c>, accounts and
/// assignments of their own), about one in ten refused by a business rule: an unknown lead segment or account, or a
/// promotion list that applies to all customers. Every command is valid JSON, as upstream services send them.
/// </summary>
public sealed class BenchWorkload(int documents, (int LeadSegments, int Permissions, int PromotionLists) mix)
{
    const string Enterprise = "bench";
    const string Newsletter = "be0000000000000000000001";
    const long CustomerBase = 900_000_000;
    const long ListBase = 910_000_000;
    const long AssignmentBase = 920_000_000;
    const int Lists = 10;

    /// <summary>The commands of one run; <paramref name="run"/> keeps correlation ids apart between runs.</summary>
    public List<WorkloadCommand> Commands(int count, string run)
    {
        var total = mix.LeadSegments + mix.Permissions + mix.PromotionLists;
        var commands = new List<WorkloadCommand>(count);
        var random = new Random(42);
        for (var i = 0; i < count; i++)
        {
            var correlationId = $"bench-{run}-{i}";
            var document = random.Next(documents);
            var refused = random.Next(10) == 0;
            var pick = random.Next(total);
            if (pick < mix.LeadSegments)
            {
                var id = refused ? $"missing-{document}" : SegmentId(document);
                commands.Add(new(UpdateLeadSegment.Queue, correlationId, Guid.NewGuid(), JsonSerializer.SerializeToUtf8Bytes(
                    new { correlationId, enterprise = Enterprise, id, body = new { description = $"{run} {i}" } }), !refused,
                    $"{Enterprise}/{id}"));
            }
            else if (pick < mix.LeadSegments + mix.Permissions)
            {
                var account = refused ? $"{0xdead000000L + document:x24}" : AccountId(document);
                var body = new
                {
                    account_id = account,
                    marketing_permissions = new[] { new { id = Newsletter, enabled = random.Next(2) == 0 } },
                };
                commands.Add(new(UpdateMarketingPermissions.Queue, correlationId, Guid.NewGuid(),
                    JsonSerializer.SerializeToUtf8Bytes(new { correlationId, body }), !refused, account));
            }
            else
            {
                // Each assignment keeps its own customer, so no two assignments ever claim the same pair; list 0
                // applies to all customers and is refused.
                var list = refused ? 0 : 1 + random.Next(Lists - 1);
                var body = new { promotionListId = ListBase + list, customerId = CustomerBase + document };
                commands.Add(new(UpdateCustomerPromotionList.Queue, correlationId, Guid.NewGuid(),
                    JsonSerializer.SerializeToUtf8Bytes(new { correlationId, id = AssignmentBase + document, body }), !refused,
                    (AssignmentBase + document).ToString()));
            }
        }
        return commands;
    }

    /// <summary>
    /// Marketing-permission commands for one account, each turning its newsletter permission over, so that each
    /// appends a consent event to the account's history.
    /// </summary>
    public static List<WorkloadCommand> HistoryCommands(int count, string run, int account) =>
        Enumerable.Range(0, count).Select(i =>
        {
            var correlationId = $"bench-{run}-{i}";
            var body = new { account_id = AccountId(account), marketing_permissions = new[] { new { id = Newsletter, enabled = i % 2 == 0 } } };
            return new WorkloadCommand(UpdateMarketingPermissions.Queue, correlationId, Guid.NewGuid(),
                JsonSerializer.SerializeToUtf8Bytes(new { correlationId, body }), true, AccountId(account));
        }).ToList();

    /// <summary>The bench documents as a demo-data file, in the format of samples/seed-data.json.</summary>
    public string SeedFile()
    {
        const string start = "2024-01-01T00:00:00.000Z";
        var range = Enumerable.Range(0, Math.Min(documents, ImportedDocuments)).ToList();
        var seed = new
        {
            leadSegments = range.Select(k => new
            {
                enterprise = Enterprise, id = SegmentId(k), code = $"BENCH{k}", description = "start",
                createdAt = start, updatedAt = start,
            }),
            marketingPermissions = new
            {
                definitions = new[] { new { id = Newsletter, name = "Bench newsletter", type = "email", active = true } },
                accounts = range.Select(k => new
                {
                    id = AccountId(k), name = $"bench {k}", marketingPermissions = new Dictionary<string, bool>(),
                    updatedAt = start,
                }),
            },
            customerPromotionLists = new
            {
                customers = range.Select(k => new
                {
                    id = CustomerBase + k, reference = $"BC-{k}", name = $"bench {k}", organization = "Bench",
                }),
                promotionLists = Enumerable.Range(0, Lists).Select(l => new
                {
                    id = ListBase + l, reference = $"BPL-{l}", name = $"bench list {l}", applyToAllCustomers = l == 0,
                    organization = "Bench",
                }),
                assignments = range.Select(k => new
                {
                    id = AssignmentBase + k, customerId = CustomerBase + k, promotionListId = ListBase + 1,
                    customerReference = $"BC-{k}", promotionListReference = "BPL-1", organization = "Bench",
                    dateCreated = "2024-01-01T00:00:00Z", lastUpdated = "2024-01-01T00:00:00Z",
                }),
            },
        };
        var path = Path.Combine(Path.GetTempPath(), $"bench-seed-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, JsonSerializer.Serialize(seed));
        return path;
    }

    static string SegmentId(int k) => $"bench-{k}";

    public const long AccountId0Number = 0xbe0000000L;

    public static string AccountId(int k) => $"{AccountId0Number + k:x24}";

    public static long CustomerId(int k) => CustomerBase + k;

    public static long AssignmentId(int k) => AssignmentBase + k;

    /// <summary>
    /// How many documents of each kind the demo import puts back before every run; above that, the bench's
    /// <see cref="DataSize"/> makes the rest in SQL once.
    /// </summary>
    public const int ImportedDocuments = 1000;
}
