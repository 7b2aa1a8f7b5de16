using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Contracts;
using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;
using Npgsql;
using NpgsqlTypes;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using Worker.CustomerPromotionLists;
using Worker.LeadSegments;
using Worker.MarketingPermissions;
using Worker.Storage;

namespace Bench;

/// <summary>
/// The "limit": the floor of what this machine allows for the worker's job. RabbitMQ.Client and Npgsql with
/// hand-written SQL on the worker's own tables (documents, inbox entries, the event store), the worker's rules, and the
/// same batching: the commands waiting, up to the batch size, are read in one round trip, written in one and committed
/// together; then each is answered with its result event (published with a confirm) and acknowledged. One loop applies
/// every command in delivery order. No framework on either side; the SQL lives here only, for this comparison.
/// </summary>
public sealed class LimitPipeline : IAsyncDisposable
{
    const string NoTenant = DocumentRef.DefaultTenant;
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    readonly NpgsqlDataSource _database;
    readonly int _batchSize;
    readonly List<IChannel> _channels = [];
    readonly Channel<Delivery> _deliveries = Channel.CreateUnbounded<Delivery>(new UnboundedChannelOptions { SingleReader = true });
    readonly CancellationTokenSource _stopping = new();
    Task _loop = Task.CompletedTask;

    sealed record Delivery(IChannel Channel, ulong Tag, Guid? MessageId, object Command, string? ReplyTo, string? CorrelationId);

    LimitPipeline(NpgsqlDataSource database, int batchSize) => (_database, _batchSize) = (database, batchSize);

    public static async Task<LimitPipeline> StartAsync(IConnection connection, NpgsqlDataSource database, string prefix,
        ushort prefetch, int batchSize, CancellationToken cancellationToken)
    {
        var pipeline = new LimitPipeline(database, Math.Max(1, batchSize));
        await pipeline.ConsumeAsync<UpdateLeadSegment>(connection, prefix + UpdateLeadSegment.Queue, prefetch, cancellationToken);
        await pipeline.ConsumeAsync<UpdateMarketingPermissions>(connection, prefix + UpdateMarketingPermissions.Queue, prefetch, cancellationToken);
        await pipeline.ConsumeAsync<UpdateCustomerPromotionList>(connection, prefix + UpdateCustomerPromotionList.Queue, prefetch, cancellationToken);
        pipeline._loop = Task.Run(pipeline.RunAsync);
        return pipeline;
    }

    async Task ConsumeAsync<TCommand>(IConnection connection, string queue, ushort prefetch, CancellationToken cancellationToken)
        where TCommand : class
    {
        var confirms = new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);
        var channel = await connection.CreateChannelAsync(confirms, cancellationToken);
        _channels.Add(channel);
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, cancellationToken: cancellationToken);
        await channel.BasicQosAsync(0, prefetch, false, cancellationToken);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            var command = JsonSerializer.Deserialize<TCommand>(delivery.Body.Span, Json)!;
            var messageId = Guid.TryParse(delivery.BasicProperties.MessageId, out var id) ? id : (Guid?)null;
            return _deliveries.Writer.WriteAsync(new Delivery(channel, delivery.DeliveryTag, messageId, command,
                delivery.BasicProperties.ReplyTo, delivery.BasicProperties.CorrelationId)).AsTask();
        };
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer, cancellationToken);
    }

    async Task RunAsync()
    {
        var batch = new List<Delivery>(_batchSize);
        try
        {
            while (await _deliveries.Reader.WaitToReadAsync(_stopping.Token))
            {
                batch.Clear();
                while (batch.Count < _batchSize && _deliveries.Reader.TryRead(out var delivery)) batch.Add(delivery);
                var answers = await new Batch(batch).ApplyAsync(_database, _stopping.Token);
                for (var i = 0; i < batch.Count; i++)
                {
                    var (delivery, (exchange, result)) = (batch[i], answers[i]);
                    // Answered while the next batch is applied, as the worker's consumers are.
                    _ = Task.Run(async () =>
                    {
                        var body = JsonSerializer.SerializeToUtf8Bytes(result, result.GetType(), Json);
                        var properties = new BasicProperties { ContentType = "application/json", DeliveryMode = DeliveryModes.Persistent };
                        var published = delivery.Channel.BasicPublishAsync(exchange, "", false, properties, body).AsTask();
                        // A command with a reply address is answered there too, at the same time, as by the worker.
                        if (delivery.ReplyTo is { Length: > 0 } replyTo)
                        {
                            var reply = new BasicProperties
                            {
                                ContentType = "application/json", CorrelationId = delivery.CorrelationId, Type = exchange,
                                MessageId = Guid.NewGuid().ToString(),
                            };
                            await Task.WhenAll(published, delivery.Channel.BasicPublishAsync("", replyTo, false, reply, body).AsTask());
                        }
                        else await published;
                        await delivery.Channel.BasicAckAsync(delivery.Tag, false);
                    });
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // Nothing answers after this: say why, or the run only shows results that never come.
            Console.Error.WriteLine($"The limit pipeline stopped: {e}");
            throw;
        }
    }

    /// <summary>The documents of one batch: read together, changed in memory in delivery order, written together.</summary>
    sealed class Batch(List<Delivery> deliveries)
    {
        sealed class Stored<T>(T document, Guid version)
        {
            public T Document { get; set; } = document;
            public Guid ReadVersion { get; } = version;
            public bool Changed { get; set; }
        }

        readonly Dictionary<(string, string), Stored<LeadSegment>> _segments = [];
        readonly Dictionary<string, Stored<Account>> _accounts = [];
        readonly Dictionary<string, MarketingPermission> _permissions = [];
        readonly Dictionary<string, long> _streams = [];
        readonly List<(string Account, ConsentChanged Change)> _events = [];
        readonly Dictionary<long, Stored<CustomerPromotionList>> _assignments = [];
        readonly Dictionary<long, Customer> _customers = [];
        readonly Dictionary<long, PromotionList> _lists = [];
        readonly Dictionary<Guid, InboxEntry> _answered = [];
        readonly List<InboxEntry> _fresh = [];

        public async Task<(string Exchange, CommandResult Event)[]> ApplyAsync(NpgsqlDataSource database,
            CancellationToken cancellationToken)
        {
            await using var connection = await database.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await ReadAsync(connection, transaction, cancellationToken);
            var now = DateTimeOffset.UtcNow;
            var answers = deliveries.Select(delivery => Answer(delivery, now)).ToArray();
            await WriteAsync(connection, transaction, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return answers;
        }

        async Task ReadAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
        {
            var commands = deliveries.Select(d => d.Command).ToList();
            var segments = commands.OfType<UpdateLeadSegment>().Where(c => c.Enterprise is not null && c.Id is not null).ToList();
            var permissions = commands.OfType<UpdateMarketingPermissions>().Select(c => MarketingPermissionsRequest.Read(c).Request)
                .OfType<MarketingPermissionsRequest>().ToList();
            var assignments = commands.OfType<UpdateCustomerPromotionList>().Select(c => AssignmentRequest.Read(c).Request)
                .OfType<AssignmentRequest>().ToList();

            await using var batch = new NpgsqlBatch(connection, transaction);
            var readers = new List<Action<NpgsqlDataReader>>();
            // Each parameter is an array (a string[] passed as params object[] would be spread into several).
            void Query(string sql, Action<NpgsqlDataReader> row, Array ids, Array? moreIds = null)
            {
                var command = new NpgsqlBatchCommand(sql);
                command.Parameters.Add(new NpgsqlParameter { Value = ids });
                if (moreIds is not null) command.Parameters.Add(new NpgsqlParameter { Value = moreIds });
                batch.BatchCommands.Add(command);
                readers.Add(row);
            }
            Query("select data from mt_doc_inbox where id = any($1)",
                r => { var entry = Read<InboxEntry>(r, 0); _answered[entry.Id] = entry; },
                deliveries.Where(d => d.MessageId is not null).Select(d => d.MessageId!.Value).ToArray());
            Query("select tenant_id, data, mt_version, mt_deleted from mt_doc_leadsegment where tenant_id = any($1) and id = any($2)",
                r =>
                {
                    var segment = Read<LeadSegment>(r, 1);
                    segment.Deleted = r.GetBoolean(3);
                    _segments[(r.GetString(0), segment.Id)] = new(segment, r.GetGuid(2));
                },
                segments.Select(c => c.Enterprise!).Distinct().ToArray(), segments.Select(c => c.Id!).Distinct().ToArray());
            Query("select data, mt_version from mt_doc_account where tenant_id = '*DEFAULT*' and id = any($1)",
                r => { var account = Read<Account>(r, 0); _accounts[account.Id] = new(account, r.GetGuid(1)); },
                permissions.Select(p => p.AccountId).Distinct().ToArray());
            Query("select data from mt_doc_marketingpermission where tenant_id = '*DEFAULT*' and id = any($1)",
                r => { var permission = Read<MarketingPermission>(r, 0); _permissions[permission.Id] = permission; },
                permissions.SelectMany(p => p.Permissions.Select(x => x.Id)).Distinct().ToArray());
            Query("select id, version from mt_streams where id = any($1)",
                r => _streams[r.GetString(0)] = r.GetInt64(1),
                permissions.Select(p => p.AccountId).Distinct().ToArray());
            Query("select data, mt_version from mt_doc_customerpromotionlist where tenant_id = '*DEFAULT*' and id = any($1)",
                r => { var assignment = Read<CustomerPromotionList>(r, 0); _assignments[assignment.Id] = new(assignment, r.GetGuid(1)); },
                assignments.Select(a => a.Address).OfType<AssignmentAddress.ById>().Select(a => a.Id).Distinct().ToArray());
            Query("select data from mt_doc_customer where tenant_id = '*DEFAULT*' and id = any($1)",
                r => { var customer = Read<Customer>(r, 0); _customers[customer.Id] = customer; },
                assignments.Select(a => a.CustomerId).Distinct().ToArray());
            Query("select data from mt_doc_promotionlist where tenant_id = '*DEFAULT*' and id = any($1)",
                r => { var list = Read<PromotionList>(r, 0); _lists[list.Id] = list; },
                assignments.Select(a => a.PromotionListId).Distinct().ToArray());

            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            foreach (var row in readers)
            {
                while (await reader.ReadAsync(cancellationToken)) row(reader);
                await reader.NextResultAsync(cancellationToken);
            }
        }

        static T Read<T>(NpgsqlDataReader reader, int column) =>
            JsonSerializer.Deserialize<T>(reader.GetString(column), DocumentJson.Options)!;

        (string Exchange, CommandResult Event) Answer(Delivery delivery, DateTimeOffset now)
        {
            var earlier = delivery.MessageId is { } id ? _answered.GetValueOrDefault(id) : null;
            var outcome = earlier is not null ? CommandOutcome.Repeat(earlier) : Apply(delivery, now);
            if (delivery.MessageId is { } messageId && !outcome.Repeated)
            {
                // A second copy of a message in the same batch is answered like the first.
                var entry = new InboxEntry
                {
                    Id = messageId, Succeeded = outcome.Succeeded, Status = outcome.Status,
                    Body = outcome.Body.GetRawText(), Day = InboxEntry.DayOf(now),
                };
                _answered[messageId] = entry;
                _fresh.Add(entry);
            }
            var result = BenchResults.Answer(delivery.Command, delivery.MessageId, outcome);
            return (BenchResults.ExchangeOf(result), result);
        }

        CommandOutcome Apply(Delivery delivery, DateTimeOffset now) => delivery.Command switch
        {
            UpdateLeadSegment command => ApplyLeadSegment(command, now),
            UpdateMarketingPermissions command => ApplyPermissions(command, delivery.MessageId, now),
            UpdateCustomerPromotionList command => ApplyAssignment(command, now),
            var other => throw new InvalidOperationException($"Unknown command {other.GetType()}"),
        };

        CommandOutcome ApplyLeadSegment(UpdateLeadSegment command, DateTimeOffset now)
        {
            var (patch, errors) = LeadSegmentPatch.Read(command);
            if (patch is null) return new(false, 400, LeadSegmentErrors.Body(errors));
            if (!_segments.TryGetValue((command.Enterprise!, command.Id!), out var stored)
                || !LeadSegmentRules.IsLive(stored.Document, stored.Document.Deleted))
            {
                return new(false, 404, LeadSegmentErrors.Body([LeadSegmentErrors.LeadSegmentNotFound(command.Id!)]));
            }
            var (updated, refusal) = LeadSegmentRules.Apply(stored.Document, patch, now);
            if (updated is null) return new(false, 422, LeadSegmentErrors.Body([refusal!]));
            (stored.Document, stored.Changed) = (updated, true);
            return new(true, 200, LeadSegmentRules.SuccessBody(updated));
        }

        CommandOutcome ApplyPermissions(UpdateMarketingPermissions command, Guid? messageId, DateTimeOffset now)
        {
            var (request, error) = MarketingPermissionsRequest.Read(command);
            if (request is null) return new(false, error!.Status, error.Body());
            if (!_accounts.TryGetValue(request.AccountId, out var stored))
            {
                var missing = PaywayErrors.AccountNotFound(request.AccountId);
                return new(false, missing.Status, missing.Body());
            }
            var (decision, refusal) = MarketingPermissionRules.Apply(stored.Document, request, _permissions, now,
                command.CorrelationId!, messageId);
            if (decision is null) return new(false, refusal!.Status, refusal.Body());
            if (decision.Changes.Count > 0)
            {
                (stored.Document, stored.Changed) = (decision.Account, true);
                _events.AddRange(decision.Changes.Select(change => (request.AccountId, change)));
            }
            return new(true, 200, JsonSerializer.SerializeToElement(new JsonObject { ["id"] = stored.Document.Id }));
        }

        CommandOutcome ApplyAssignment(UpdateCustomerPromotionList command, DateTimeOffset now)
        {
            var (request, error) = AssignmentRequest.Read(command);
            if (request is null) return new(false, error!.Status, error.Body());
            if (request.Address is not AssignmentAddress.ById byId)
                throw new NotSupportedException("The limit pipeline reads assignments by id only, as the bench addresses them");
            ValomniaError? refused = null;
            if (!_assignments.TryGetValue(byId.Id, out var stored)) refused = ValomniaErrors.Unknown("customerPromotionList", byId.Id);
            else if (!_lists.TryGetValue(request.PromotionListId, out _)) refused = ValomniaErrors.Unknown("promotionList", request.PromotionListId);
            else if (!_customers.TryGetValue(request.CustomerId, out _)) refused = ValomniaErrors.Unknown("customer", request.CustomerId);
            if (refused is not null) return new(false, refused.Status, refused.Body());
            var (list, customer) = (_lists[request.PromotionListId], _customers[request.CustomerId]);
            var (updated, refusal) = AssignmentRules.Apply(stored!.Document, customer, list, now);
            if (updated is null) return new(false, refusal!.Status, refusal.Body());
            (stored.Document, stored.Changed) = (updated, true);
            return new(true, 200, AssignmentRules.SuccessBody(updated, customer, list));
        }

        async Task WriteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
        {
            await using var batch = new NpgsqlBatch(connection, transaction);
            var guarded = new List<NpgsqlBatchCommand>();
            void Update<T>(string table, string tenant, string id, Stored<T> stored)
            {
                // Only at the version read: the same optimistic check the worker gets from Marten.
                var command = new NpgsqlBatchCommand(
                    $"update {table} set data = $1, mt_version = $2, mt_last_modified = transaction_timestamp() " +
                    "where tenant_id = $3 and id = $4 and mt_version = $5");
                command.Parameters.Add(new NpgsqlParameter { Value = JsonSerializer.Serialize(stored.Document, DocumentJson.Options), NpgsqlDbType = NpgsqlDbType.Jsonb });
                command.Parameters.Add(new NpgsqlParameter { Value = Guid.CreateVersion7() });
                command.Parameters.Add(new NpgsqlParameter { Value = tenant });
                command.Parameters.Add(new NpgsqlParameter { Value = table == "mt_doc_customerpromotionlist" ? long.Parse(id) : id });
                command.Parameters.Add(new NpgsqlParameter { Value = stored.ReadVersion });
                batch.BatchCommands.Add(command);
                guarded.Add(command);
            }
            foreach (var ((tenant, id), stored) in _segments.Where(s => s.Value.Changed)) Update("mt_doc_leadsegment", tenant, id, stored);
            foreach (var (id, stored) in _accounts.Where(a => a.Value.Changed)) Update("mt_doc_account", NoTenant, id, stored);
            foreach (var (id, stored) in _assignments.Where(a => a.Value.Changed)) Update("mt_doc_customerpromotionlist", NoTenant, id.ToString(), stored);

            if (_events.Count > 0)
            {
                var versions = new List<long>();
                foreach (var (account, _) in _events) versions.Add(_streams[account] = _streams.GetValueOrDefault(account) + 1);
                var streams = _events.Select(e => e.Account).Distinct().ToArray();
                var streamUpsert = new NpgsqlBatchCommand(
                    "insert into mt_streams (id, version, timestamp, created, tenant_id) " +
                    "select id, version, now(), now(), '*DEFAULT*' from unnest($1::varchar[], $2::bigint[]) as s(id, version) " +
                    "on conflict (id) do update set version = excluded.version, timestamp = excluded.timestamp");
                streamUpsert.Parameters.Add(new NpgsqlParameter { Value = streams });
                streamUpsert.Parameters.Add(new NpgsqlParameter { Value = streams.Select(s => _streams[s]).ToArray() });
                batch.BatchCommands.Add(streamUpsert);
                var events = new NpgsqlBatchCommand(
                    "insert into mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type) " +
                    "select nextval('mt_events_sequence'), id, stream_id, version, data, 'consent_changed', now(), '*DEFAULT*', $5 " +
                    "from unnest($1::uuid[], $2::varchar[], $3::bigint[], $4::jsonb[]) as e(id, stream_id, version, data)");
                events.Parameters.Add(new NpgsqlParameter { Value = _events.Select(_ => Guid.CreateVersion7()).ToArray() });
                events.Parameters.Add(new NpgsqlParameter { Value = _events.Select(e => e.Account).ToArray() });
                events.Parameters.Add(new NpgsqlParameter { Value = versions.ToArray() });
                events.Parameters.Add(new NpgsqlParameter
                {
                    Value = _events.Select(e => JsonSerializer.Serialize(e.Change, DocumentJson.Options)).ToArray(),
                    NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb,
                });
                events.Parameters.Add(new NpgsqlParameter { Value = typeof(ConsentChanged).FullName });
                batch.BatchCommands.Add(events);
            }

            if (_fresh.Count > 0)
            {
                var inbox = new NpgsqlBatchCommand(
                    "insert into mt_doc_inbox (id, day, data) select * from unnest($1::uuid[], $2::timestamptz[], $3::jsonb[])");
                inbox.Parameters.Add(new NpgsqlParameter { Value = _fresh.Select(e => e.Id).ToArray() });
                inbox.Parameters.Add(new NpgsqlParameter { Value = _fresh.Select(e => e.Day).ToArray() });
                inbox.Parameters.Add(new NpgsqlParameter
                {
                    Value = _fresh.Select(e => JsonSerializer.Serialize(e, DocumentJson.Options)).ToArray(),
                    NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb,
                });
                batch.BatchCommands.Add(inbox);
            }

            if (batch.BatchCommands.Count == 0) return;
            await batch.ExecuteNonQueryAsync(cancellationToken);
            if (guarded.FirstOrDefault(command => command.RecordsAffected != 1) is { } lost)
            {
                // The bench's documents have no other writer: this would be a bug, and the run must not count it.
                throw new InvalidOperationException($"A write lost its version check: {lost.CommandText}");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _loop;
        foreach (var channel in _channels)
        {
            await channel.CloseAsync();
            channel.Dispose();
        }
        _stopping.Dispose();
    }
}
