using System.Globalization;
using TestDbKit.Diagnostics;
using TestDbKit.Engines;

namespace TestDbKit.Tests.Diagnostics;

public sealed class ResilienceAdvisorTests
{
    [Theory]
    [InlineData(DbEngine.PostgreSql, "idle_session_timeout", "60s", "Connection Lifetime", "Connection Lifetime=7200")]
    [InlineData(DbEngine.MySql, "wait_timeout", "60", "ConnectionIdleTimeout", "ConnectionReset=false")]
    public async Task A_pool_that_outlives_the_servers_idle_timeout_is_a_problem_and_the_fix_removes_it(
        DbEngine engine, string serverSetting, string value, string clientSetting, string badSetting)
    {
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions
        {
            Provider = DbServerProvider.Local,
            Settings = new Dictionary<string, string> { [serverSetting] = value },
        });
        var password = server.Dialect.PasswordOf(server.AdminConnectionString)!;
        var cs = server.AdminConnectionString + ";" + badSetting;

        var advice = await ResilienceAdvisor.AdviseAsync(engine, cs);
        var problem = Assert.Single(advice, a => a.Level == AdviceLevel.Problem);
        Assert.Equal("idle-timeout", problem.Kind);
        Assert.Contains(clientSetting, problem.Setting, StringComparison.Ordinal);
        Assert.Contains("60 s", problem.Finding, StringComparison.Ordinal);
        var (key, fix) = Assert.Single(problem.Apply);
        Assert.InRange(int.Parse(fix, CultureInfo.InvariantCulture), 1, 59); // strictly below the server's 60 s
        Assert.Contains($"{key}={fix}", problem.Fix, StringComparison.Ordinal);
        Assert.Contains(advice, a => a.Level == AdviceLevel.Warning && a.Kind == "keepalive");
        Assert.DoesNotContain(advice, a => a.ToString().Contains(password, StringComparison.Ordinal));

        var fixedCs = string.Join(";", new[] { cs }.Concat(advice.Where(a => a.Level > AdviceLevel.Info).SelectMany(a => a.Apply).Select(kv => $"{kv.Key}={kv.Value}")));
        var after = await ResilienceAdvisor.AdviseAsync(engine, fixedCs);
        Assert.DoesNotContain(after, a => a.Level != AdviceLevel.Info);
    }

    /// <summary>
    /// The advice converges for every client, at every server timeout, on a real server whose timeout changes
    /// per round (PostgreSQL: per database; MySQL: the global wait_timeout of a server of this test's own): each
    /// finding's own settings, applied alone, clear that finding's kind; a value it advises is strictly below the
    /// server's timeout; and applying everything leaves nothing above Info within a few rounds.
    /// </summary>
    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task Every_clients_advice_clears_its_own_finding_at_every_server_timeout(DbEngine engine)
    {
        var ct = CancellationToken.None;
        await using var target = await TimeoutTarget.CreateAsync(engine);
        double[] seconds = engine == DbEngine.PostgreSql
            ? [0, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 10, 11, 59, 60, 61, 3600]
            : [1, 2, 3, 4, 5, 6, 10, 11, 59, 60, 61, 3600];
        var clients = ClientAdvisors.All.Where(c => c.Supports(engine)).ToList();
        Assert.True(clients.Count >= 5, $"premise: {engine} has its driver, its Python driver, SQLAlchemy, Django and EF Core");
        foreach (var s in seconds)
        {
            var timeout = TimeSpan.FromSeconds(s);
            await target.SetIdleTimeoutAsync(timeout);
            var read = await ResilienceAdvisor.ServerTimeoutsAsync(engine, target.ConnectionString, ct);
            Assert.Equal(timeout, read.Idle); // premise: the server really has this timeout now

            foreach (var client in clients)
            {
                foreach (var start in Starts(client, engine))
                {
                    await ConvergesAsync(engine, client, target.ConnectionString, start, timeout, ct);
                }
            }
        }
    }

    private static async Task ConvergesAsync(DbEngine engine, ClientAdvisor client, string cs, List<KeyValuePair<string, string>> settings, TimeSpan timeout, CancellationToken ct)
    {
        var where = $"{client.Key} at {timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s from [{string.Join(", ", settings)}]";
        for (var round = 0; ; round++)
        {
            var all = await AdviseAsync(engine, client, cs, settings, ct);
            Assert.All(all, a => Assert.True(a.Setting.Split(" vs server ").Length <= 2 && a.Kind.Length > 0, $"{where}: '{a}' ({a.Kind})"));
            var open = all.Where(a => a.Level > AdviceLevel.Info).ToList();
            if (open.Count == 0)
            {
                return;
            }

            Assert.True(round < 3, $"{where}: still {string.Join(" | ", open)} after {round} rounds of applying the advice.");
            foreach (var finding in open)
            {
                Assert.True(finding.Apply.Count > 0, $"{where}: '{finding}' says nothing to apply.");
                foreach (var value in finding.Apply.Values)
                {
                    if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && finding.Kind == "idle-timeout")
                    {
                        Assert.True(n < timeout.TotalSeconds, $"{where}: '{finding}' advises {value}, not strictly below the server's timeout.");
                    }
                }

                var alone = await AdviseAsync(engine, client, cs, [.. settings, .. finding.Apply], ct);
                Assert.False(alone.Any(a => a.Kind == finding.Kind && a.Level > AdviceLevel.Info),
                    $"{where}: applying {string.Join(", ", finding.Apply)} for '{finding}' leaves: {string.Join(" | ", alone.Where(a => a.Kind == finding.Kind))}");
            }

            settings = [.. settings, .. open.SelectMany(a => a.Apply)];
        }
    }

    private static Task<IReadOnlyList<ResilienceAdvice>> AdviseAsync(DbEngine engine, ClientAdvisor client, string cs, List<KeyValuePair<string, string>> settings, CancellationToken ct) =>
        ResilienceAdvisor.AdviseAsync(engine, client, client.Prepare(engine, cs, settings), ct);

    /// <summary>Each client's defaults, and settings that keep connections too long.</summary>
    private static IEnumerable<List<KeyValuePair<string, string>>> Starts(ClientAdvisor client, DbEngine engine)
    {
        yield return [];
        var bad = client.Key switch
        {
            "npgsql" => new Dictionary<string, string> { ["Connection Lifetime"] = "7200", ["Connection Idle Lifetime"] = "600", ["No Reset On Close"] = "true" },
            "mysqlconnector" => new() { ["ConnectionReset"] = "false", ["ConnectionIdleTimeout"] = "600" },
            "psycopg" => new() { ["keepalives"] = "0" },
            "sqlalchemy" => new() { ["pool_recycle"] = "7200", ["pool_pre_ping"] = "false" },
            "django" => new() { ["CONN_MAX_AGE"] = "None" },
            "efcore" => engine == DbEngine.PostgreSql
                ? new() { ["EnableRetryOnFailure"] = "false", ["Connection Lifetime"] = "7200" }
                : new() { ["EnableRetryOnFailure"] = "false", ["ConnectionReset"] = "false" },
            _ => null,
        };
        if (bad is not null)
        {
            yield return [.. bad];
        }
    }

    [Fact]
    public void Every_registered_engine_has_its_clients_and_every_client_is_found_by_its_key()
    {
        foreach (var module in EngineRegistry.Modules)
        {
            var clients = EngineClients.For(module.Engine);
            Assert.Equal(module.Engine, clients.Driver.Engine);
            Assert.True(clients.Python.Supports(module.Engine));
            Assert.Same(clients.Driver, ClientAdvisors.Default(module.Engine));
            Assert.All(clients.Schemes, scheme => Assert.Same(clients, EngineClients.ForScheme(scheme + "+somedriver")));
        }

        Assert.All(ClientAdvisors.All, c => Assert.Same(c, ClientAdvisors.Find(c.Key.ToUpperInvariant())));
        Assert.Equal(ClientAdvisors.Keys.Count, ClientAdvisors.Keys.Distinct().Count());
        Assert.Throws<ArgumentOutOfRangeException>(() => EngineClients.For((DbEngine)99));
        Assert.Throws<ArgumentException>(() => ClientAdvisors.Find("jdbc"));
    }

    [Fact]
    public void A_malformed_setting_is_refused_with_its_name_and_what_it_takes()
    {
        var cs = "Host=127.0.0.1;Port=1;Username=u;Password=sekrit-77";
        var e = Assert.Throws<ClientInputException>(() => SqlAlchemyAdvisor.Instance.Prepare(DbEngine.PostgreSql, cs, [new("pool_recycle", "soon")]));
        Assert.Contains("pool_recycle=soon", e.Message, StringComparison.Ordinal);
        Assert.Contains("whole number of seconds", e.Message, StringComparison.Ordinal);

        e = Assert.Throws<ClientInputException>(() => NpgsqlAdvisor.Instance.Prepare(DbEngine.PostgreSql, cs, [new("Connection Idle Lifetime", "4")]));
        Assert.Contains("Connection Pruning Interval", e.Message, StringComparison.Ordinal); // Npgsql itself would refuse it on open
        Assert.DoesNotContain("sekrit-77", e.Message, StringComparison.Ordinal);

        e = Assert.Throws<ClientInputException>(() => ClientConnection.Parse("postgresql://u:sekrit-77@/db", null));
        Assert.DoesNotContain("sekrit-77", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("postgresql://app:p%40ss%3Aw@db.local:6543/orders?pool_recycle=3600&pool_pre_ping=true", DbEngine.PostgreSql, "db.local", 6543, "app", "p@ss:w", "orders")]
    [InlineData("postgresql+psycopg2://app:pw@127.0.0.1/orders", DbEngine.PostgreSql, "127.0.0.1", 5432, "app", "pw", "orders")]
    [InlineData("mysql+pymysql://root:pw@localhost:3307/shop?CONN_MAX_AGE=600", DbEngine.MySql, "localhost", 3307, "root", "pw", "shop")]
    [InlineData("mysql://root:pw@localhost/shop", DbEngine.MySql, "localhost", 3306, "root", "pw", "shop")]
    public void A_url_gives_the_engine_the_drivers_connection_string_and_its_query_as_settings(
        string url, DbEngine engine, string host, int port, string user, string password, string database)
    {
        var parsed = ClientConnection.Parse(url, null);
        Assert.Equal(engine, parsed.Engine);
        var dialect = EngineDialect.For(engine);
        Assert.Equal(new Endpoint(host, port, user, database), dialect.Parse(parsed.ConnectionString));
        Assert.Equal(password, dialect.PasswordOf(parsed.ConnectionString));
        Assert.Equal(password, parsed.Password);
        var query = new Uri(url).Query;
        Assert.Equal(query.Length == 0 ? 0 : query.Split('&').Length, parsed.Settings.Count);
    }

    /// <summary>A real server whose idle timeout a test changes at will: on PostgreSQL a scratch database of the
    /// shared server (idle_session_timeout per database); on MySQL a server of the test's own (global
    /// wait_timeout, which new sessions take as theirs).</summary>
    private sealed class TimeoutTarget : IAsyncDisposable
    {
        private readonly ScratchDatabase? _database;
        private readonly DbServer? _server;

        private TimeoutTarget(ScratchDatabase? database, DbServer? server, string connectionString)
        {
            _database = database;
            _server = server;
            ConnectionString = connectionString;
        }

        public string ConnectionString { get; }

        public static async Task<TimeoutTarget> CreateAsync(DbEngine engine)
        {
            if (engine == DbEngine.PostgreSql)
            {
                var database = await ScratchDatabase.CreateAsync(engine);
                return new TimeoutTarget(database, null, database.ConnectionString);
            }

            var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
            return new TimeoutTarget(null, server, server.AdminConnectionString);
        }

        public async Task SetIdleTimeoutAsync(TimeSpan timeout)
        {
            var ms = ((long)timeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
            if (_database is not null)
            {
                await using var admin = await _database.Server.OpenAdminConnectionAsync();
                await admin.ExecuteAsync($"ALTER DATABASE {_database.Name} SET idle_session_timeout = {ms}");
            }
            else
            {
                // A fresh session each time: the one before may itself have idled out under a short timeout.
                _server!.ClearPools();
                await using var admin = await _server.OpenAdminConnectionAsync();
                await admin.ExecuteAsync($"SET GLOBAL wait_timeout = {(long)timeout.TotalSeconds}");
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_database is not null)
            {
                await _database.DisposeAsync();
            }

            if (_server is not null)
            {
                await SetIdleTimeoutAsync(TimeSpan.FromHours(8));
                _server.ClearPools();
                await _server.DisposeAsync();
            }
        }
    }
}
