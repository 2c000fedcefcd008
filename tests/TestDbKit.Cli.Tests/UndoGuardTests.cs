using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using TestDbKit.Tests.Common;

namespace TestDbKit.Cli.Tests;

/// <summary>
/// The undo guard (<c>testdbkit undo-guard</c>) runs only while a setting it guards is held: serve, which undoes its
/// askers' settings itself, starts none; <c>chaos</c> on a server no serve owns closes its guard once the setting is
/// undone. The guard itself keeps trying a server it cannot reach yet, goes on past a statement that fails, and
/// undoes newest first, on both engines.
/// </summary>
public sealed class UndoGuardTests(Served served, OwnedServers owned) : IClassFixture<Served>, IClassFixture<OwnedServers>
{
    private static readonly Dictionary<string, string> AllowChaos = new() { ["TESTDBKIT_ALLOW_CHAOS"] = "1" };

    public static TheoryData<DbEngine> Engines() => new(DbEngine.PostgreSql, DbEngine.MySql);

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task Serve_holds_setting_faults_without_starting_an_undo_guard(DbEngine engine)
    {
        var serve = await served.GetAsync(engine);
        var database = await Sessions.NewKitDatabaseAsync(serve, engine);
        var probe = new KilledFaultTests.Probe(engine, serve, database);
        foreach (var (kind, release) in new[] { ("read-only", "TERM"), ("idle", "TERM"), ("read-only", "KILL") })
        {
            await using var fault = FaultProcess.Start(["fault", kind, "--connection", serve.AdminUrl, "--database", database, "--json", .. kind == "idle" ? ["--value", "3s"] : Array.Empty<string>()]);
            var started = await fault.NextAsync();
            Assert.True(started.GetProperty("event").GetString() == "started", started.ToString());
            Assert.True(await probe.InEffectAsync(kind), $"premise: serve holds {kind} while the fault process lives");
            Assert.Empty(GuardProcesses.Under(serve.Pid)); // serve undoes it itself, even after a kill of the asker
            fault.Signal(release);
            await fault.ExitAsync();
            await Expect.EventuallyAsync(async () => !await probe.InEffectAsync(kind), TimeSpan.FromSeconds(20), $"{kind} is undone by serve after SIG{release}");
        }

        Assert.Empty(GuardProcesses.Under(serve.Pid)); // and none is left behind
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task Chaos_closes_its_undo_guard_once_the_setting_is_undone(DbEngine engine)
    {
        var server = await owned.GetAsync(engine);
        var database = await OwnedServers.NewDatabaseAsync(server);
        await using var chaos = FaultProcess.Start(AllowChaos, ["chaos", "--engine", Served.Key(engine), "--connection", server.AdminConnectionString,
            "--database", database, "--faults", "read-only", "--interval", "100ms", "--max-hold", "500ms", "--duration", "120s", "--seed", "7", "--json"]);
        var started = await chaos.NextAsync();
        Assert.True(started.GetProperty("event").GetString() == "started", started.ToString());
        // Held still while the premise is checked: the hold is drawn between 10 and 500 ms, and a loaded machine
        // could let it end before the checks ran.
        chaos.Signal("STOP");
        try
        {
            Assert.True(await OwnedServers.SettingsOfAsync(server, database) != "", "premise: chaos set read-only on the database");
            Assert.True(GuardProcesses.Under(chaos.Pid).Count == 1, "premise: one undo guard guards the setting while it is held");
        }
        finally
        {
            chaos.Signal("CONT");
        }

        var ended = await chaos.NextAsync();
        Assert.True(ended.GetProperty("event").GetString() == "ended", ended.ToString());
        chaos.Signal("STOP"); // no next fault, and no new guard, while the guards are counted
        try
        {
            await Expect.EventuallyAsync(() => Task.FromResult(GuardProcesses.Under(chaos.Pid).Count == 0), TimeSpan.FromSeconds(10),
                "the undo guard of an undone setting has exited while chaos runs on");
        }
        finally
        {
            chaos.Signal("CONT");
        }

        chaos.Signal("TERM");
        var (code, stderr) = await chaos.ExitAsync();
        Assert.True(code == 0, stderr);
        Assert.Equal("", await OwnedServers.SettingsOfAsync(server, database));
    }

    /// <summary>A guard left with an undo while its server does not listen yet (restarting, or briefly out of reach)
    /// keeps trying, and undoes once the port answers.</summary>
    [Fact]
    public async Task The_guard_keeps_trying_a_server_that_is_not_reachable_yet()
    {
        var server = await owned.GetAsync(DbEngine.PostgreSql);
        var database = await OwnedServers.NewDatabaseAsync(server);
        await using (var admin = await server.OpenAdminConnectionAsync())
        {
            await admin.ExecuteAsync($"ALTER DATABASE {database} SET statement_timeout = '3s'");
        }

        Assert.Equal("statement_timeout=3s", await OwnedServers.SettingsOfAsync(server, database)); // premise
        var port = FreePort();
        var later = OwnedServers.AtPort(server, port);
        using var guard = StartGuard(server, later, [$"ALTER DATABASE {database} RESET statement_timeout"]);
        var stderr = guard.StandardError;

        var first = await stderr.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(first?.Contains("cannot reach", StringComparison.Ordinal) == true, $"premise: the guard found nothing listening on {port} at first: {first}");
        Assert.Equal("statement_timeout=3s", await OwnedServers.SettingsOfAsync(server, database));

        await using var listening = Forwarder.Start(port, OwnedServers.PortOf(server));
        await guard.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(40));
        var rest = await stderr.ReadToEndAsync();
        Assert.True(guard.ExitCode == 0, $"{first}\n{rest}");
        Assert.Equal("", await OwnedServers.SettingsOfAsync(server, database));
        Assert.DoesNotContain(OwnedServers.PasswordOf(server), first + rest, StringComparison.Ordinal);
    }

    /// <summary>Stacked changes taken back newest first end at the first value; a statement that fails is reported
    /// (without the password) and the rest still run; one struck off is not run.</summary>
    [Theory]
    [MemberData(nameof(Engines))]
    public async Task The_guard_undoes_newest_first_and_goes_on_past_a_failing_statement(DbEngine engine)
    {
        var server = await owned.GetAsync(engine);
        var database = await OwnedServers.NewDatabaseAsync(server);
        var onDatabase = OwnedServers.On(server, database);
        await using (var db = await Sessions.OpenAsync(engine, onDatabase))
        {
            await db.ExecuteAsync("CREATE TABLE marks (v varchar(20))");
            await db.ExecuteAsync("INSERT INTO marks VALUES ('faulted')");
        }

        // Undo 1 takes back the first change, 2 the second (stacked on it), 3 fails, 4 is struck off.
        using var guard = StartGuard(server, onDatabase,
            ["UPDATE marks SET v = 'original'", "UPDATE marks SET v = 'second'", "UPDATE no_such_table SET v = 'x'", "UPDATE marks SET v = 'struck'"], remove: 4);
        var stderr = guard.StandardError.ReadToEndAsync();
        await guard.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(40));
        var report = await stderr;

        await using (var db = await Sessions.OpenAsync(engine, onDatabase))
        {
            Assert.Equal("original", Convert.ToString(await db.ScalarAsync("SELECT v FROM marks"), CultureInfo.InvariantCulture));
        }

        Assert.True(guard.ExitCode == 1, $"the guard says an undo failed: exit {guard.ExitCode}\n{report}");
        Assert.Contains("no_such_table", report, StringComparison.Ordinal);
        Assert.DoesNotContain(OwnedServers.PasswordOf(server), report, StringComparison.Ordinal);
    }

    /// <summary>The guard as fault and chaos start it, fed <paramref name="undo"/> (numbered from 1) and the end of its
    /// input: as if the process that changed the settings had died.</summary>
    private static Process StartGuard(DbServer server, string adminConnectionString, string[] undo, int? remove = null)
    {
        var guard = Process.Start(CliProcess.Start(["undo-guard"]))!;
        guard.StandardInput.WriteLine(Served.Key(server.Engine));
        guard.StandardInput.WriteLine(adminConnectionString);
        for (var i = 0; i < undo.Length; i++)
        {
            guard.StandardInput.WriteLine(string.Create(CultureInfo.InvariantCulture, $"add {i + 1} {Convert.ToBase64String(Encoding.UTF8.GetBytes(undo[i]))}"));
        }

        if (remove is { } id)
        {
            guard.StandardInput.WriteLine(string.Create(CultureInfo.InvariantCulture, $"remove {id}"));
        }

        guard.StandardInput.Close();
        return guard;
    }

    private static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    /// <summary>A port that starts listening late: every connection to it is passed on to the server's port.</summary>
    private sealed class Forwarder : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        private Forwarder(int port, int upstream)
        {
            _listener = new TcpListener(IPAddress.Loopback, port);
            _listener.Start();
            _loop = Task.Run(() => AcceptAsync(upstream));
        }

        public static Forwarder Start(int port, int upstream) => new(port, upstream);

        private async Task AcceptAsync(int upstream)
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }

                _ = Task.Run(async () =>
                {
                    using (client)
                    using (var server = new TcpClient())
                    {
                        await server.ConnectAsync(IPAddress.Loopback, upstream);
                        var a = client.GetStream();
                        var b = server.GetStream();
                        await Task.WhenAny(a.CopyToAsync(b, _stop.Token), b.CopyToAsync(a, _stop.Token));
                    }
                });
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _loop;
            _stop.Dispose();
        }
    }
}

/// <summary>The live <c>testdbkit undo-guard</c> processes a process started (its descendants; zombies left out).</summary>
internal static class GuardProcesses
{
    public static List<int> Under(int ancestor)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                if (cmdline.Contains(UndoGuardName) && State(pid) is { } s && s.State != 'Z' && DescendsFrom(pid, ancestor))
                {
                    found.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Exited meanwhile.
            }
        }

        return found;
    }

    private const string UndoGuardName = "undo-guard";

    private static bool DescendsFrom(int pid, int ancestor)
    {
        for (var i = 0; i < 64 && State(pid) is { } s; i++)
        {
            if (s.Parent == ancestor)
            {
                return true;
            }

            if (s.Parent <= 1)
            {
                return false;
            }

            pid = s.Parent;
        }

        return false;
    }

    /// <summary>State and parent from /proc/PID/stat (after the command name, which may hold spaces and parentheses).</summary>
    private static (char State, int Parent)? State(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (fields[0][0], int.Parse(fields[1], CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
