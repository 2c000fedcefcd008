using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MySqlConnector;
using Npgsql;
using TestDbKit.Tests.Databases;

namespace TestDbKit.FaultMatrix;

/// <summary>A Python row the matrix drove step by step (tests/python/matrix_client.py), with its measured times.</summary>
internal sealed record PythonDrivenRow(string Fault, DbEngine Engine, string ClientLabel, string EngineLabel, string Cells, string Measured) : IMatrixRow
{
    public string Timing() => $"{Fault} | {Engine} | {ClientLabel} | {Measured}";
}

/// <summary>
/// The Python rows for the faults `testdbkit fault` cannot reach from a script on its own: those that need a server
/// of the matrix's own (crash, restart, freeze, exhausted connections), the kit's network proxy (its host and port
/// go into the client's URL), or a session the client holds (kill busy sessions, cancel, a held lock). The matrix
/// injects each fault with the kit's API between the steps of tests/python/matrix_client.py (SQLAlchemy's default
/// QueuePool over psycopg2 or PyMySQL), proves the fault's premise, and records what the client met.
/// </summary>
internal static class PythonDriven
{
    /// <summary>How long a statement may block before the row says it blocked (the drivers have no read timeout by default).</summary>
    private const double GiveUpAfter = 2;

    /// <summary>The faults this class reports, each once per engine.</summary>
    public static readonly string[] Faults =
    [
        "kill busy sessions", "cancel query", "hold lock (lock timeout)", "exhaust connections", "crash", "restart", "freeze",
        "network reset", "network refuses new connections", "network stall", "network cut in a reply", "ambiguous commit",
    ];

    public static async Task<IReadOnlyList<PythonDrivenRow>> RunAsync(DbEngine engine, DatabasePool pool)
    {
        await using var client = await PythonClient.StartAsync();
        var v = (await client.SendAsync(new { op = "versions" })).GetProperty("versions");
        var label = engine == DbEngine.PostgreSql
            ? $"SQLAlchemy {v.GetProperty("sqlalchemy").GetString()} + psycopg2 {v.GetProperty("psycopg2").GetString()}"
            : $"SQLAlchemy {v.GetProperty("sqlalchemy").GetString()} + PyMySQL {v.GetProperty("pymysql").GetString()}";
        var rows = new List<PythonDrivenRow>();
        foreach (var fault in Faults)
        {
            FaultMatrixTests.ClearDriverPools();
            await using var db = await pool.LeaseAsync();
            string version;
            await using (var probe = db.Server.CreateConnection(db.ConnectionString))
            {
                await probe.OpenAsync();
                version = probe.ServerVersion;
            }

            var run = new Run(client, engine, db, fault);
            await run.ExecuteAsync();
            rows.Add(new PythonDrivenRow(fault, engine, label, MatrixDocument.EngineName(engine, version),
                TimingDecides(fault, engine, PythonMatrix.Cells(JsonDocument.Parse(run.Row.ToJsonString()).RootElement)), run.Measured));
        }

        return rows;
    }

    /// <summary>PyMySQL through a proxy that resets new connections: the reset meets either its read of the server's
    /// greeting (2013, the pool invalidates) or its first write (2003 "Broken pipe", nothing to invalidate), as the
    /// scheduler decides. The run proves it saw one of the two; the document names both.</summary>
    private static string TimingDecides(string fault, DbEngine engine, string cells)
    {
        if (fault != "network refuses new connections")
        {
            return cells;
        }

        if (engine == DbEngine.PostgreSql)
        {
            // psycopg2 (libpq) the same way: the reset meets its read of the server's answer, or its first write.
            var p = cells.Split(" | ");
            Assert.True(p.Length == 9 && (p[2].Contains("server closed the connection unexpectedly", StringComparison.Ordinal) || p[2].Contains("Broken pipe", StringComparison.Ordinal)),
                $"psycopg2 met the refused connection with neither a closed connection nor a broken pipe: {cells}");
            return $"{p[0]} | {p[1]} | timing decides: connection to server at \"<host>\", port <n> failed: server closed the connection unexpectedly (the reset met the read of the server's answer), or … failed: Broken pipe (it met the first write) | {p[3]} | {p[4]} | {p[5]} | {p[6]} | {p[7]} | {p[8]}";
        }

        var c = cells.Split(" | ");
        Assert.True(c.Length == 9 && c[1] is "2013" or "2003", $"PyMySQL met the refused connection with neither 2013 nor 2003: {cells}");
        return $"{c[0]} | timing decides: 2013 or 2003 | Lost connection to MySQL server during query (the reset met the greeting's read), or Can't connect to MySQL server on '<host>' ([Errno <n>] Broken pipe) (it met the first write) | {c[3]} | {c[4]} | {c[5]} | invalidated (2013) or kept (2003) | {c[7]} | {c[8]}";
    }

    /// <summary>A SQLAlchemy URL for a .NET connection string (the test database's, or the proxy's).</summary>
    internal static string UrlOf(DbEngine engine, string connectionString)
    {
        static string E(string? s) => Uri.EscapeDataString(s ?? "");
        if (engine == DbEngine.PostgreSql)
        {
            var b = new NpgsqlConnectionStringBuilder(connectionString);
            return $"postgresql+psycopg2://{E(b.Username)}:{E(b.Password)}@{b.Host}:{b.Port}/{E(b.Database)}";
        }

        var m = new MySqlConnectionStringBuilder(connectionString);
        return $"mysql+pymysql://{E(m.UserID)}:{E(m.Password)}@{m.Server}:{m.Port}/{E(m.Database)}";
    }

    /// <summary>One fault's steps. <see cref="Row"/> has the shape of tests/python/fault_matrix.py's rows.</summary>
    private sealed class Run(PythonClient client, DbEngine engine, TestDatabase db, string fault)
    {
        public JsonObject Row { get; } = new() { ["fault"] = fault, ["premise"] = new JsonObject(), ["lasting"] = false, ["prePing"] = null };

        public string Measured { get; private set; } = "no recovery to measure";

        private JsonObject Premise => (JsonObject)Row["premise"]!;

        private string Direct => UrlOf(engine, db.ConnectionString);

        private string Proxied => UrlOf(engine, db.Faults.Network.ConnectionString);

        private const string Insert = "INSERT INTO items (tag) VALUES ('write')";

        public async Task ExecuteAsync()
        {
            switch (fault)
            {
                case "kill busy sessions":
                    await HeldAsync(Direct, async session =>
                    {
                        var killed = await db.Faults.KillBusySessionsAsync();
                        Premise["killed"] = killed;
                        Assert.True(killed >= 1, $"the kill of busy sessions ended {killed}, expected the client's session in its transaction");
                        await GoneAsync(session);
                        return await client.SendAsync(new { op = "exec", conn = "c", sql = Insert });
                    }, writeFirst: true);
                    break;

                case "cancel query":
                    await HeldAsync(Direct, async session =>
                    {
                        var running = await client.SendAsync(new { op = "exec", conn = "c", sql = Sleep(10), giveUpAfter = 0.3 });
                        Assert.True(running.GetProperty("blocked").GetBoolean(), $"the 10 s statement returned at once: {running}");
                        await ServerSessions.WaitUntilRunningAsync(db.Server, engine, session);
                        await using (var admin = await db.Server.OpenAdminConnectionAsync())
                        {
                            await admin.ExecuteAsync(engine == DbEngine.PostgreSql ? $"SELECT pg_cancel_backend({session})" : $"KILL QUERY {session}");
                        }

                        var joined = await client.SendAsync(new { op = "join", conn = "c", within = 20 });
                        Premise["cancelledAfterSeconds"] = joined.GetProperty("seconds").GetDouble();
                        Assert.True(joined.GetProperty("seconds").GetDouble() < 9, $"the statement ran to its end: the cancel never reached it. {joined}");
                        return joined;
                    });
                    break;

                case "hold lock (lock timeout)":
                    Row["lasting"] = true;
                    await HeldLastingAsync(Direct, async session =>
                    {
                        await client.SendAsync(new { op = "exec", conn = "c", sql = engine == DbEngine.PostgreSql ? "SET lock_timeout = '200ms'" : "SET SESSION lock_wait_timeout = 1" });
                        var held = await db.Faults.HoldLockAsync("items");
                        return (held, await client.SendAsync(new { op = "exec", conn = "c", sql = Insert }));
                    });
                    break;

                case "exhaust connections":
                    await NewCheckoutLastingAsync(Direct, () => db.Faults.ExhaustConnectionsAsync());
                    break;

                case "crash":
                    await PooledAsync(Direct, () => db.Faults.CrashServerAsync());
                    break;

                case "restart":
                    await PooledAsync(Direct, () => db.Faults.RestartServerAsync());
                    break;

                case "freeze":
                    await BlockedAsync(Direct, () => db.Faults.FreezeServerAsync());
                    break;

                case "network reset":
                    await PooledAsync(Proxied, async () =>
                    {
                        var reset = await db.Faults.Network.ResetConnectionsAsync();
                        Premise["reset"] = reset;
                        Assert.True(reset >= 2, $"the reset ended {reset} connections through the proxy, expected the two pools' sessions");
                    }, proveGone: false);
                    break;

                case "network refuses new connections":
                    await NewCheckoutLastingAsync(Proxied, () => db.Faults.Network.RefuseNewConnectionsAsync());
                    break;

                case "network stall":
                    await BlockedAsync(Proxied, () => db.Faults.Network.StallAsync());
                    break;

                case "network cut in a reply":
                    Row["lasting"] = true;
                    await HeldLastingAsync(Proxied, async _ =>
                    {
                        var cut = await db.Faults.Network.CloseAfterBytesAsync(1);
                        return (cut, await client.SendAsync(new { op = "exec", conn = "c", sql = "SELECT 1" }));
                    });
                    break;

                case "ambiguous commit":
                    await HeldAsync(Proxied, async _ =>
                    {
                        await using var ambiguous = await db.Faults.Network.AmbiguousCommitAsync();
                        var written = await client.SendAsync(new { op = "exec", conn = "c", sql = "INSERT INTO items (tag) VALUES ('paid')" });
                        Assert.True(written.GetProperty("error").ValueKind == JsonValueKind.Null, $"the write before the COMMIT failed: {written}");
                        var commit = await client.SendAsync(new { op = "commit", conn = "c" });
                        await using var direct = db.Server.CreateConnection(db.ConnectionString);
                        await direct.OpenAsync();
                        var committed = await direct.CountAsync("items WHERE tag = 'paid'");
                        Premise["committed"] = committed;
                        Row["ambiguous"] = committed == 1
                            ? "the lost COMMIT had committed: a blind retry writes the row twice"
                            : "the COMMIT did not commit";
                        return commit;
                    });
                    break;

                default:
                    throw new InvalidOperationException($"no Python steps for {fault}");
            }
        }

        private string Sleep(int seconds) => engine == DbEngine.PostgreSql ? $"SELECT pg_sleep({seconds})" : $"SELECT SLEEP({seconds})";

        private Task GoneAsync(long session) => ServerSessions.WaitUntilGoneAsync(db.Server, engine, session);

        private async Task<long> CheckoutAsync(string name, string url, bool prePing = false, string conn = "c", bool release = false)
        {
            await client.SendAsync(new { op = "engine", name, url, prePing });
            var checkout = await client.SendAsync(new { op = "checkout", engine = name, conn, begin = true });
            Assert.True(checkout.GetProperty("error").ValueKind == JsonValueKind.Null, $"{fault}: the checkout before the fault failed: {checkout}");
            var session = checkout.GetProperty("session").GetInt64();
            if (release)
            {
                await client.SendAsync(new { op = "release", conn });
                await ServerSessions.WaitUntilIdleAsync(db.Server, engine, session);
            }

            return session;
        }

        private void Record(JsonElement naive, bool? invalidated = null)
        {
            var error = naive.GetProperty("error");
            Row["error"] = error.ValueKind == JsonValueKind.Null ? null : JsonNode.Parse(error.GetRawText());
            Row["invalidated"] = invalidated ?? (naive.TryGetProperty("invalidated", out var i) ? i.GetBoolean()
                : error.ValueKind == JsonValueKind.Object && error.TryGetProperty("connectionInvalidated", out var ci) && ci.GetBoolean());
            if (naive.TryGetProperty("blocked", out var blocked) && blocked.GetBoolean())
            {
                Row["blocked"] = GiveUpAfter;
            }
        }

        private void Next(JsonElement next) =>
            Row["nextAttempt"] = new JsonObject { ["error"] = next.GetProperty("error").ValueKind == JsonValueKind.Null ? null : JsonNode.Parse(next.GetProperty("error").GetRawText()) };

        private async Task<JsonElement> WriteAsync(string engineName, double giveUpAfter = 30) =>
            await client.SendAsync(new { op = "write", engine = engineName, giveUpAfter });

        /// <summary>The client holds a connection in a transaction (having written first when asked); the fault hits it.</summary>
        private async Task HeldAsync(string url, Func<long, Task<JsonElement>> hit, bool writeFirst = false)
        {
            var session = await CheckoutAsync("a", url);
            if (writeFirst)
            {
                await client.SendAsync(new { op = "exec", conn = "c", sql = "INSERT INTO items (tag) VALUES ('open')" });
                await ServerSessions.WaitUntilInTransactionAsync(db.Server, engine, session);
            }

            var naive = await hit(session);
            Record(naive);
            await client.SendAsync(new { op = "release", conn = "c" });
            var clock = Stopwatch.StartNew();
            var next = await WriteAsync("a");
            Next(next);
            Measured = string.Create(CultureInfo.InvariantCulture, $"the next attempt took {clock.Elapsed.TotalMilliseconds:0} ms");
            await client.SendAsync(new { op = "dispose", engine = "a" });
        }

        /// <summary>A lasting fault hits a connection the client holds; then the next attempt while it lasts, and after.</summary>
        private async Task HeldLastingAsync(string url, Func<long, Task<(IAsyncDisposable Fault, JsonElement Naive)>> hit)
        {
            var session = await CheckoutAsync("a", url);
            var (lasting, naive) = await hit(session);
            Record(naive);
            await client.SendAsync(new { op = "release", conn = "c" });
            await WhileAndAfterAsync("a", lasting);
        }

        /// <summary>A lasting fault refuses new sessions: a new checkout meets it.</summary>
        private async Task NewCheckoutLastingAsync(string url, Func<Task<IAsyncDisposable>> inject)
        {
            Row["lasting"] = true;
            await client.SendAsync(new { op = "engine", name = "a", url, prePing = false });
            var lasting = await inject();
            var naive = await WriteAsync("a");
            Record(naive);
            await WhileAndAfterAsync("a", lasting);
        }

        /// <summary>The next attempt while the fault lasts (given <see cref="GiveUpAfter"/> to return), then the fault
        /// ends, and the time until a write succeeds is measured.</summary>
        private async Task WhileAndAfterAsync(string engineName, IAsyncDisposable lasting)
        {
            var during = await WriteAsync(engineName, GiveUpAfter);
            Next(during);
            var blocked = during.GetProperty("blocked").GetBoolean();
            var clock = Stopwatch.StartNew();
            await lasting.DisposeAsync();
            var after = blocked
                ? await client.SendAsync(new { op = "join", conn = "write:" + engineName, within = 30 })
                : await client.SendAsync(new { op = "retry", engine = engineName, within = 20 }, skipEvents: true);
            var ok = after.GetProperty("error").ValueKind == JsonValueKind.Null && !(after.TryGetProperty("blocked", out var b) && b.GetBoolean());
            Row["recovers"] = (blocked, during.GetProperty("error").ValueKind == JsonValueKind.Null, ok) switch
            {
                (true, _, true) => "nothing while the fault lasts: the next attempt waits (no timeout by default) and completes once the fault ends",
                (false, false, true) => "nothing while the fault lasts: the next attempt fails the same way; once the fault ends, the next checkout works",
                (false, true, true) => "the next attempt (a new checkout), even while the fault lasts",
                _ => "nothing: even after the fault ended the application's writes failed: " + after.GetRawText(),
            };
            Measured = string.Create(CultureInfo.InvariantCulture, $"a write succeeded {clock.Elapsed.TotalMilliseconds:0} ms after the fault ended");
            await client.SendAsync(new { op = "dispose", engine = engineName });
        }

        /// <summary>The sessions rest in the pools (default and pre-ping) while the fault ends them; the next checkouts meet it.</summary>
        private async Task PooledAsync(string url, Func<Task> inject, bool proveGone = true)
        {
            var naiveSession = await CheckoutAsync("a", url, release: true);
            var pingedSession = await CheckoutAsync("p", url, prePing: true, conn: "d", release: true);
            await inject();
            if (proveGone)
            {
                await GoneAsync(naiveSession);
                await GoneAsync(pingedSession);
                Premise["sessionGone"] = true;
            }

            var naive = await WriteAsync("a");
            Record(naive);
            var pinged = await WriteAsync("p");
            Row["prePing"] = new JsonObject { ["error"] = pinged.GetProperty("error").ValueKind == JsonValueKind.Null ? null : JsonNode.Parse(pinged.GetProperty("error").GetRawText()) };
            var clock = Stopwatch.StartNew();
            var next = await WriteAsync("a");
            Next(next);
            Measured = string.Create(CultureInfo.InvariantCulture, $"the next attempt took {clock.Elapsed.TotalMilliseconds:0} ms");
            await client.SendAsync(new { op = "dispose", engine = "a" });
            await client.SendAsync(new { op = "dispose", engine = "p" });
        }

        /// <summary>A fault that makes the server stop answering: the client's statement on its held connection blocks;
        /// the fault ends and the statement's fate is recorded.</summary>
        private async Task BlockedAsync(string url, Func<Task<IAsyncDisposable>> inject)
        {
            Row["lasting"] = true;
            var session = await CheckoutAsync("a", url);
            await client.SendAsync(new { op = "exec", conn = "c", sql = "SELECT 1" }); // the session is known good before the fault
            Premise["session"] = session;
            var lasting = await inject();
            var naive = await client.SendAsync(new { op = "exec", conn = "c", sql = Insert, giveUpAfter = GiveUpAfter });
            var clock = Stopwatch.StartNew();
            await lasting.DisposeAsync();
            Record(naive);
            Assert.True(naive.GetProperty("blocked").GetBoolean() || naive.GetProperty("error").ValueKind != JsonValueKind.Null,
                $"{fault}: the statement succeeded while the fault was in effect: the fault never reached the client. {naive}");
            if (naive.GetProperty("blocked").GetBoolean())
            {
                var joined = await client.SendAsync(new { op = "join", conn = "c", within = 30 });
                var joinedError = joined.GetProperty("error");
                Row["recovers"] = joinedError.ValueKind == JsonValueKind.Null
                    ? "the blocked statement completes once the fault ends (the session lives on)"
                    : "the blocked statement fails once the fault ends: " + joinedError.GetProperty("type").GetString();
                Measured = string.Create(CultureInfo.InvariantCulture, $"the blocked statement returned {clock.Elapsed.TotalMilliseconds:0} ms after the fault ended");
            }

            await client.SendAsync(new { op = "release", conn = "c" });
            Next(await WriteAsync("a"));
            await client.SendAsync(new { op = "dispose", engine = "a" });
        }
    }

    /// <summary>tests/python/matrix_client.py as a child process: one JSON command a line in, one answer a line out.</summary>
    private sealed class PythonClient : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _stderr = new();

        private PythonClient(Process process) => _process = process;

        public static Task<PythonClient> StartAsync()
        {
            Assert.True(File.Exists(PythonMatrix.Interpreter), $"{PythonMatrix.Interpreter} does not exist: the Python rows need Debian's python3 (scripts/install-servers.sh).");
            var script = Path.Combine(MatrixDocument.RepositoryRoot(), "tests", "python", "matrix_client.py");
            var psi = new ProcessStartInfo(PythonMatrix.Interpreter, [script])
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            psi.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
            psi.Environment["PYTHONUNBUFFERED"] = "1";
            var process = Process.Start(psi) ?? throw new InvalidOperationException("python3 did not start");
            var client = new PythonClient(process);
            process.ErrorDataReceived += (_, e) =>
            {
                lock (client._stderr)
                {
                    client._stderr.AppendLine(e.Data);
                }
            };
            process.BeginErrorReadLine();
            return Task.FromResult(client);
        }

        /// <summary>Sends one command and returns its answer; <paramref name="skipEvents"/>: event lines before it are read past.</summary>
        public async Task<JsonElement> SendAsync(object command, bool skipEvents = false)
        {
            var line = JsonSerializer.Serialize(command);
            await _process.StandardInput.WriteLineAsync(line);
            await _process.StandardInput.FlushAsync();
            while (true)
            {
                string? answer;
                try
                {
                    answer = await _process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
                }
                catch (TimeoutException)
                {
                    throw new Xunit.Sdk.XunitException($"tests/python/matrix_client.py gave no answer to {line} within 60 s. stderr: {Stderr()}");
                }

                if (answer is null)
                {
                    throw new Xunit.Sdk.XunitException($"tests/python/matrix_client.py ended (exit {(_process.HasExited ? _process.ExitCode : -1)}) before answering {line} (3: a Python module is missing). stderr: {Stderr()}");
                }

                var element = JsonDocument.Parse(answer).RootElement;
                if (element.TryGetProperty("event", out _) && skipEvents)
                {
                    continue;
                }

                if (!element.GetProperty("ok").GetBoolean())
                {
                    throw new Xunit.Sdk.XunitException($"tests/python/matrix_client.py broke on {line}:\n{element.GetProperty("crash").GetString()}");
                }

                return element;
            }
        }

        private string Stderr()
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                _process.StandardInput.Close();
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (TimeoutException)
            {
                _process.Kill(entireProcessTree: true);
            }

            _process.Dispose();
        }
    }
}
