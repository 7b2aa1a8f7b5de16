using System.Text.RegularExpressions;
using Hosting;
using Npgsql;
using Worker.IntegrationTests.Infrastructure;
using Worker.IntegrationTests.Startup;

namespace Worker.IntegrationTests.Security;

/// <summary>
/// The worker and the publisher with exactly the rights docs/security.md gives them, read from that page: the broker
/// permissions as its <c>rabbitmqctl set_permissions</c> lines, the database roles as its SQL blocks.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed partial class LeastPrivilegeTests(WorkerFixture fixture) : IAsyncLifetime
{
    const string Password = "least-privilege";
    const string Database = "worker_roles";

    static string SecurityPage => File.ReadAllText(Path.Combine(LocalServices.RepositoryRoot(), "docs", "security.md"));

    string Broker(string user) => new UriBuilder(fixture.Services.RabbitMq) { UserName = user, Password = Password }.Uri.ToString();

    string Postgres(string user, string database = Database) =>
        new NpgsqlConnectionStringBuilder(fixture.Services.Postgres) { Username = user, Password = Password, Database = database }.ConnectionString;

    public async Task InitializeAsync()
    {
        foreach (Match line in SetPermissions().Matches(SecurityPage))
        {
            var user = line.Groups["user"].Value;
            await AddUserAsync(user);
            await Ctl("set_permissions", "-p", line.Groups["vhost"].Value, user,
                line.Groups["configure"].Value, line.Groups["write"].Value, line.Groups["read"].Value);
        }
        var sql = SqlBlocks().Matches(SecurityPage).Select(block => block.Groups[1].Value).ToList();
        Assert.Equal(2, sql.Count);
        await using (var superuser = NpgsqlDataSource.Create(fixture.Services.Postgres))
        {
            if (await superuser.CreateCommand("select 1 from pg_roles where rolname = 'worker_owner'").ExecuteScalarAsync() is null)
                await superuser.CreateCommand(sql[0]).ExecuteNonQueryAsync();
            // "Give each a password": servers that check passwords (the containers' do) refuse a role without one.
            foreach (var role in new[] { "worker_owner", "worker_app" })
                await superuser.CreateCommand($"alter role {role} password '{Password}'").ExecuteNonQueryAsync();
            if (await superuser.CreateCommand($"select 1 from pg_database where datname = '{Database}'").ExecuteScalarAsync() is null)
                await superuser.CreateCommand($"create database {Database} owner worker_owner").ExecuteNonQueryAsync();
        }
        var schema = await ProgramRun.RunAsync("Worker.dll", ["schema"],
            new Dictionary<string, string> { ["ConnectionStrings__Postgres"] = Postgres("worker_owner") });
        Assert.True(schema.ExitCode == 0, schema.Output + schema.Errors);
        await using var owner = NpgsqlDataSource.Create(Postgres("worker_owner"));
        await owner.CreateCommand(sql[1]).ExecuteNonQueryAsync();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    Task<string> Ctl(params string[] arguments) => fixture.Services.RabbitMqCtlAsync(arguments);

    // Each test sets the users up again, on a broker the whole run shares.
    async Task AddUserAsync(string user)
    {
        try
        {
            await Ctl("add_user", user, Password);
        }
        catch (InvalidOperationException e) when (e.Message.Contains("already exists"))
        {
        }
    }

    [Fact]
    public async Task The_worker_and_the_publisher_work_with_exactly_the_documented_rights()
    {
        await using var worker = await WorkerProcess.StartAsync(Broker("worker"), Postgres("worker_app"),
            new Dictionary<string, string> { ["Storage__SchemaAtStart"] = "Verify" });

        var (exitCode, output, errors) = await ProgramRun.RunAsync("Publisher.dll",
            ["lead-segment", "update", "--enterprise", "acme", "--id", Guid.NewGuid().ToString(), "--code", "LP", "--wait"],
            new Dictionary<string, string> { ["ConnectionStrings__RabbitMq"] = Broker("publisher") });
        Assert.True(exitCode == 1, $"publisher exited {exitCode}:\n{output}\n{errors}");
        Assert.Contains("lead-segment-update-failed: status 404", output);

        // A consent event is appended by the worker's role, and cannot be changed or unprotected by it.
        await using var app = NpgsqlDataSource.Create(Postgres("worker_app"));
        var update = await Assert.ThrowsAsync<PostgresException>(() =>
            app.CreateCommand("update mt_events set type = type").ExecuteNonQueryAsync());
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, update.SqlState);
        var disable = await Assert.ThrowsAsync<PostgresException>(() =>
            app.CreateCommand("alter table mt_events disable trigger mt_events_no_update").ExecuteNonQueryAsync());
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, disable.SqlState);
        // It keeps its inbox's partitions through the owner's function, and cannot drop one itself.
        Assert.Equal(0, await app.CreateCommand("select dropped from mt_inbox_maintain(interval '7 days', 3)").ExecuteScalarAsync());
        var drop = await Assert.ThrowsAsync<PostgresException>(() =>
            app.CreateCommand("drop table mt_doc_inbox_default").ExecuteNonQueryAsync());
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, drop.SqlState);
        Assert.Equal(200, await worker.ReadinessStatusAsync());
    }

    [Fact]
    public async Task Without_the_grant_on_the_inbox_maintenance_the_worker_counts_each_refused_run_for_the_operators_alert()
    {
        await using var owner = NpgsqlDataSource.Create(Postgres("worker_owner"));
        await owner.CreateCommand("revoke execute on function mt_inbox_maintain(interval, integer) from worker_app").ExecuteNonQueryAsync();
        try
        {
            await using var worker = await WorkerProcess.StartAsync(Broker("worker"), Postgres("worker_app"),
                new Dictionary<string, string> { ["Storage__SchemaAtStart"] = "Verify", ["Storage__InboxCleanupInterval"] = "00:00:01" });
            string metrics;
            var waited = System.Diagnostics.Stopwatch.StartNew();
            do
            {
                await Task.Delay(500);
                metrics = await worker.MetricsAsync();
            } while (!System.Text.RegularExpressions.Regex.IsMatch(metrics, @"(?m)^worker_inbox_maintenance_failures_total(\{[^}]*\})? [1-9]")
                     && waited.Elapsed < TimeSpan.FromSeconds(30));
            Assert.Matches(@"(?m)^worker_inbox_maintenance_failures_total(\{[^}]*\})? [1-9]", metrics);
            Assert.Contains("Inbox maintenance refused", worker.Output);
        }
        finally
        {
            await owner.CreateCommand("grant execute on function mt_inbox_maintain(interval, integer) to worker_app").ExecuteNonQueryAsync();
        }
    }

    [Fact]
    public async Task A_MassTransit_service_on_the_packed_contracts_is_answered_with_exactly_its_documented_rights()
    {
        await using var worker = await WorkerProcess.StartAsync(Broker("worker"), Postgres("worker_app"),
            new Dictionary<string, string> { ["Storage__SchemaAtStart"] = "Verify" });
        await using var client = await PackagedClient.StartAsync("requests", Broker("dotnet-service"));
        var (correlationId, messageId) = (Guid.NewGuid().ToString(), Guid.NewGuid());

        await client.WriteAsync(Replies.MassTransitRequestTests.Request(Replies.ReplyExamples.Named("lead-segment-code-in-use"),
            correlationId, messageId));
        await client.ReadAsync();
        var answer = await client.ReadAsync();

        // Answered by whichever worker holds the partition: this one (its database has no demo data: 404) or the
        // fixture's (422, the code is in use).
        Assert.True(answer.TryGetProperty("result", out var result), $"{answer}\n{client.Errors}");
        Assert.Equal("LeadSegmentUpdateFailed", answer.GetProperty("type").GetString());
        Assert.Contains(result.GetProperty("status").GetInt32(), new[] { 404, 422 });
        Assert.Equal(messageId, result.GetProperty("commandMessageId").GetGuid());
    }

    [Fact]
    public async Task A_permission_taken_away_at_run_time_makes_the_worker_unready_saying_why_until_it_is_given_back()
    {
        await AddUserAsync("revoked");
        var permissions = SetPermissions().Matches(SecurityPage).Single(line => line.Groups["user"].Value == "worker");
        Task Grant() => Ctl("set_permissions", "-p", "/", "revoked", permissions.Groups["configure"].Value,
            permissions.Groups["write"].Value, permissions.Groups["read"].Value);
        await Grant();
        await using var worker = await WorkerProcess.StartAsync(Broker("revoked"), fixture.Services.Postgres);

        await Ctl("clear_permissions", "-p", "/", "revoked");
        // Permissions are checked as connections open: the worker's are closed, as a broker restart would.
        foreach (var connection in (await Ctl("-q", "list_connections", "user", "pid")).Split('\n')
                     .Select(line => line.Split('\t', StringSplitOptions.TrimEntries))
                     .Where(columns => columns is ["revoked", _]))
            await Ctl("close_connection", connection[1], "permissions changed");

        var (_, body) = await UntilAsync(worker, ready => ready.Status == 503 && ready.Body.Contains("refused"));
        var reason = System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("reasons").GetProperty("broker").GetString();
        Assert.Equal("RabbitMQ refused: access to vhost '/' refused for user 'revoked'", reason);
        var said = worker.Output;

        await Grant();
        await UntilAsync(worker, ready => ready.Status == 200);
        // Told once, not once per retry, and without MassTransit's stack traces.
        Assert.Single(SaidRefused().Matches(said));
        Assert.DoesNotContain("   at ", said);
    }

    static async Task<(int Status, string Body)> UntilAsync(WorkerProcess worker, Func<(int Status, string Body), bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var ready = await worker.ReadinessAsync();
            if (done(ready)) return ready;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"readiness stayed {ready}:\n{worker.Output}");
            await Task.Delay(250);
        }
    }

    [GeneratedRegex("RabbitMQ refused: .*not ready until it is granted again")]
    private static partial Regex SaidRefused();

    [Fact]
    public async Task Sending_alone_needs_only_write_on_the_default_exchange_and_without_it_the_publisher_says_so_in_one_line()
    {
        await AddUserAsync("sender");
        await Ctl("set_permissions", "-p", "/", "sender", "^$", @"^amq\.default$", "^$");
        string[] send = ["lead-segment", "update", "--enterprise", "acme", "--id", Guid.NewGuid().ToString(), "--code", "W"];
        var settings = new Dictionary<string, string> { ["ConnectionStrings__RabbitMq"] = Broker("sender") };
        var (exitCode, output, errors) = await ProgramRun.RunAsync("Publisher.dll", send, settings);
        Assert.True(exitCode == 0, $"publisher exited {exitCode}:\n{output}\n{errors}");

        await Ctl("set_permissions", "-p", "/", "sender", "^$", "^$", "^$");
        var line = await StartupFailureTests.AssertOneLineAsync("Publisher.dll", send, settings, StartupFailure.NoPermission,
            "write access to exchange 'amq.default'", program: "publisher");
        Assert.Contains("refused for user 'sender'", line);
    }

    [Fact]
    public async Task A_missing_broker_permission_ends_the_start_with_77_naming_it()
    {
        await AddUserAsync("narrow");
        await Ctl("set_permissions", "-p", "/", "narrow", @"^(update-.*\.partitioned|.*-update(d|-failed))$", ".*", ".*");
        var line = await StartupFailureTests.AssertOneLineAsync("Worker.dll", [], Settings(Broker("narrow")),
            StartupFailure.NoPermission, "configure access to queue");
        Assert.Contains("refused for user 'narrow'", line);
    }

    [Fact]
    public async Task Without_write_on_the_default_exchange_where_replies_go_the_start_ends_with_77_naming_it()
    {
        await AddUserAsync("no-replies");
        var permissions = SetPermissions().Matches(SecurityPage).Single(line => line.Groups["user"].Value == "worker");
        var write = permissions.Groups["write"].Value;
        Assert.Contains(@"amq\.default", write);
        await Ctl("set_permissions", "-p", "/", "no-replies", permissions.Groups["configure"].Value,
            write.Replace(@"amq\.default|", ""), permissions.Groups["read"].Value);
        var line = await StartupFailureTests.AssertOneLineAsync("Worker.dll", [], Settings(Broker("no-replies")),
            StartupFailure.NoPermission, "write access to exchange 'amq.default'");
        Assert.Contains("refused for user 'no-replies'", line);
    }

    [Fact]
    public async Task A_virtual_host_without_permissions_ends_the_start_with_77()
    {
        await AddUserAsync("no-vhost");
        var line = await StartupFailureTests.AssertOneLineAsync("Worker.dll", [], Settings(Broker("no-vhost")),
            StartupFailure.NoPermission, "access to vhost '/'");
        Assert.DoesNotContain(Password, line);
    }

    [Fact]
    public async Task A_schema_that_is_behind_ends_a_verifying_start_with_78_in_one_line()
    {
        await using (var superuser = NpgsqlDataSource.Create(fixture.Services.Postgres))
        {
            await superuser.CreateCommand("drop database if exists worker_empty").ExecuteNonQueryAsync();
            await superuser.CreateCommand("create database worker_empty owner worker_owner").ExecuteNonQueryAsync();
        }
        var settings = Settings(fixture.Services.RabbitMq);
        settings["ConnectionStrings__Postgres"] = Postgres("worker_app", "worker_empty");
        settings["Storage__SchemaAtStart"] = "Verify";
        var line = await StartupFailureTests.AssertOneLineAsync("Worker.dll", [], settings, StartupFailure.BadSetting,
            "worker schema");
        Assert.Contains("is behind", line);
    }

    Dictionary<string, string> Settings(string rabbitMq) => new()
    {
        ["ConnectionStrings__RabbitMq"] = rabbitMq,
        ["ConnectionStrings__Postgres"] = fixture.Services.Postgres,
        ["Health__Urls"] = "http://127.0.0.1:0",
        ["Startup__WaitForServices"] = "00:00:05",
    };

    [GeneratedRegex(@"rabbitmqctl set_permissions -p (?<vhost>\S+) (?<user>\S+) '(?<configure>[^']*)' '(?<write>[^']*)' '(?<read>[^']*)'")]
    private static partial Regex SetPermissions();

    [GeneratedRegex(@"```sql\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex SqlBlocks();
}
