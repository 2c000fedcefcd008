using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using TestDbKit.Tests.Common;
using Xunit.Abstractions;

namespace TestDbKit.Cli.Tests;

/// <summary>
/// A <c>testdbkit fault</c> process SIGKILLed while its lasting fault is in effect on a <c>testdbkit serve</c> server,
/// the shared server of a pipeline: the fault is proven in effect at the kill, then proven gone, at once, because the
/// serve that owns the server holds every lasting fault for its asker and undoes it when the asker's socket closes
/// (the settings too: a killed fault process must not leave a database read-only or with a short timeout).
/// </summary>
public sealed class KilledFaultTests(ProxyServed served, OwnedServers owned, ITestOutputHelper output) : IClassFixture<ProxyServed>, IClassFixture<OwnedServers>
{
    /// <summary>How long the owner may take to notice the dead asker and undo (it is told by the socket closing; this
    /// only bounds a loaded machine).</summary>
    private static readonly TimeSpan UndoneWithin = TimeSpan.FromSeconds(20);

    public static TheoryData<DbEngine, string> Kinds()
    {
        var data = new TheoryData<DbEngine, string>();
        foreach (var engine in new[] { DbEngine.PostgreSql, DbEngine.MySql })
        {
            foreach (var kind in new[] { "freeze", "read-only", "idle", "idle-in-transaction", "statement-timeout", "exhaust", "network-stall", "lock" })
            {
                data.Add(engine, kind);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task A_fault_whose_process_was_killed_is_undone_by_serve_at_once(DbEngine engine, string kind)
    {
        var serve = await served.GetAsync(engine);
        var database = await Sessions.NewKitDatabaseAsync(serve, engine);
        var probe = new Probe(engine, serve, database);
        Assert.False(await probe.InEffectAsync(kind), $"premise: {kind} is not in effect before the fault");

        string[] args = kind switch
        {
            "lock" => ["--database", database, "--table", "notes"],
            "idle" or "idle-in-transaction" or "statement-timeout" => ["--database", database, "--value", "3s"],
            "read-only" => ["--database", database],
            _ => [],
        };
        await using var fault = FaultProcess.Start(["fault", kind, "--connection", serve.AdminUrl, "--json", .. args]);
        var started = await fault.NextAsync();
        Assert.True(started.GetProperty("event").GetString() == "started", started.ToString());
        Assert.True(await probe.InEffectAsync(kind), $"premise: {kind} is in effect while the fault process lives");

        var clock = Stopwatch.StartNew();
        fault.Signal("KILL"); // no finally block, no handler: the process cannot undo anything itself
        await fault.ExitAsync();
        await Expect.EventuallyAsync(async () => !await probe.InEffectAsync(kind), UndoneWithin, $"{kind} is undone after its fault process was killed");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{engine} {kind}: undone {clock.ElapsedMilliseconds} ms after the kill"));
    }

    /// <summary>On a server no serve owns (TESTDBKIT_ALLOW_CHAOS=1) the fault process sets the setting itself; its undo
    /// guard, a helper in a session of its own, takes it back when the process is killed (on MySQL, the database's row
    /// of the kit's settings table).</summary>
    [Theory]
    [InlineData(DbEngine.PostgreSql, "read-only")]
    [InlineData(DbEngine.PostgreSql, "idle")]
    [InlineData(DbEngine.PostgreSql, "idle-in-transaction")]
    [InlineData(DbEngine.PostgreSql, "statement-timeout")]
    [InlineData(DbEngine.MySql, "read-only")]
    [InlineData(DbEngine.MySql, "idle")]
    public async Task A_setting_whose_fault_process_was_killed_on_a_server_serve_does_not_own_is_taken_back_by_its_guard(DbEngine engine, string kind)
    {
        var server = await owned.GetAsync(engine);
        var database = await OwnedServers.NewDatabaseAsync(server);
        Assert.Equal("", await OwnedServers.SettingsOfAsync(server, database)); // premise: the database has no setting of its own
        string[] args = ["fault", kind, "--engine", Served.Key(engine), "--connection", server.AdminConnectionString, "--database", database, "--json", .. kind == "read-only" ? Array.Empty<string>() : ["--value", "3s"]];
        using var fault = Process.Start(CliProcess.Start(args, new Dictionary<string, string> { ["TESTDBKIT_ALLOW_CHAOS"] = "1" }))!;
        var stderr = fault.StandardError.ReadToEndAsync();
        using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            var line = await fault.StandardOutput.ReadLineAsync(deadline.Token);
            Assert.True(line?.Contains("\"event\":\"started\"", StringComparison.Ordinal) == true, $"{line}\n{(fault.HasExited ? await stderr : "")}");
        }

        var set = await OwnedServers.SettingsOfAsync(server, database);
        Assert.True(set.Length > 0, $"premise: {kind} set nothing on {database}");

        var clock = Stopwatch.StartNew();
        fault.Kill(); // SIGKILL: the process cannot undo anything itself
        await fault.WaitForExitAsync();
        await Expect.EventuallyAsync(async () => await OwnedServers.SettingsOfAsync(server, database) == "", UndoneWithin, $"{kind} ({set}) is taken back after its fault process was killed");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"External {engine} {kind}: taken back {clock.ElapsedMilliseconds} ms after the kill"));
    }

    /// <summary>Whether a fault is in effect, as a new client of the served database sees it.</summary>
    internal sealed class Probe(DbEngine engine, ServeProcess serve, string database)
    {
        private string Test => serve.TestConnectionStringFor(engine, database);

        public async Task<bool> InEffectAsync(string kind) => kind switch
        {
            "freeze" => !await AnswersAsync(Test),
            "exhaust" => await TooManyAsync(),
            "network-stall" => !await AnswersAsync(serve.ProxyConnectionString()),
            "lock" => await LockedAsync(),
            "read-only" => await ReadOnlyAsync(),
            _ => await Sessions.TimeoutSecondsAsync(engine, serve, database, kind) == 3,
        };

        /// <summary>A new session opens and answers within 2 s.</summary>
        private async Task<bool> AnswersAsync(string connectionString)
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            try
            {
                await using var session = await Sessions.OpenAsync(engine, connectionString, timeoutSeconds: 2).WaitAsync(deadline.Token);
                return Convert.ToInt32(await session.ScalarAsync("SELECT 1").WaitAsync(deadline.Token), CultureInfo.InvariantCulture) == 1;
            }
            catch (Exception e) when (e is DbException or TimeoutException or IOException or OperationCanceledException or InvalidOperationException)
            {
                return false;
            }
        }

        private async Task<bool> TooManyAsync()
        {
            try
            {
                await using var session = await Sessions.OpenAsync(engine, Test);
                return false;
            }
            catch (DbException e) when (e.Message.Contains("too many", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        private async Task<bool> LockedAsync()
        {
            await using var session = await Sessions.OpenAsync(engine, Test);
            await session.ExecuteAsync(engine == DbEngine.PostgreSql ? "SET lock_timeout = '300ms'" : "SET SESSION lock_wait_timeout = 1");
            try
            {
                await session.ScalarAsync("SELECT count(*) FROM notes");
                return false;
            }
            catch (DbException)
            {
                return true;
            }
        }

        private async Task<bool> ReadOnlyAsync()
        {
            await using var session = await Sessions.OpenAsync(engine, Test);
            var value = await session.ScalarAsync(engine == DbEngine.PostgreSql ? "SHOW default_transaction_read_only" : "SELECT @@SESSION.tx_read_only");
            return Convert.ToString(value, CultureInfo.InvariantCulture) is "on" or "1";
        }
    }
}
