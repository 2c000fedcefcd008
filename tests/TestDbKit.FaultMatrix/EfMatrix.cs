using System.Data;
using System.Globalization;
using System.Reflection;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using TestDbKit.Tests.Databases;

namespace TestDbKit.FaultMatrix;

/// <summary>An EF Core provider's row: what SaveChanges (or a raw statement) met, and what EF's own retrying
/// execution strategy (<c>EnableRetryOnFailure</c>) made of it.</summary>
internal sealed record EfRow(string Fault, DbEngine Engine, string ClientLabel, string EngineLabel, Exception? Error, ConnectionState State, string Recovers, TimeSpan Elapsed) : IMatrixRow
{
    /// <summary>Where the servers' timing decides between errors (as in the driver rows), the exception chains the
    /// matrix accepts; the run proves it saw one of them, and the document names them all.</summary>
    internal static readonly Dictionary<(string Fault, DbEngine Engine), string[]> TimingDecides = new()
    {
        // A backend killed at once closes the socket; one that outlives the postmaster for a moment says so (57P01).
        [("crash", DbEngine.PostgreSql)] =
        [
            "`InvalidOperationException ← DbUpdateException ← NpgsqlException ← EndOfStreamException`",
            "`InvalidOperationException ← DbUpdateException ← PostgresException`",
        ],
        // The proxy's reset meets Npgsql's connect, its first write or its first read, as in the driver's own row.
        [("network refuses new connections", DbEngine.PostgreSql)] =
        [
            "`InvalidOperationException ← NpgsqlException ← SocketException`",
            "`InvalidOperationException ← NpgsqlException ← IOException ← SocketException`",
            "`InvalidOperationException ← NpgsqlException ← EndOfStreamException`",
        ],
        // The proxy's reset meets MySqlConnector's handshake read either as a reset or as the end of the stream; only
        // the second is classified as a lost connection, so that column varies with the error too.
        [("network refuses new connections", DbEngine.MySql)] =
        [
            "`InvalidOperationException ← MySqlException`",
            "`InvalidOperationException ← MySqlException ← MySqlEndOfStreamException`",
        ],
    };

    /// <summary>Rows of <see cref="TimingDecides"/> whose connection-lost verdict differs between their errors.</summary>
    private static readonly HashSet<(string Fault, DbEngine Engine)> LostVaries = [("network refuses new connections", DbEngine.MySql)];

    public string Cells => Error is not null && TimingDecides.TryGetValue((Fault, Engine), out var chains)
        ? $"timing decides: {string.Join(" or ", chains)} | — | (varies with the error) | {(LostVaries.Contains((Fault, Engine)) ? "no, or yes for the end of the stream" : MatrixDocument.YesNo(DbErrors.IsConnectionLost(Error)))} | {MatrixDocument.YesNo(DbErrors.IsTransient(Error))} | {MatrixDocument.YesNo(DbErrors.IsTransactionAborted(Error))} | {State} | no | {Recovers}"
        : MatrixDocument.CellsOf(Error, State, Recovers);

    public string Timing() => string.Create(CultureInfo.InvariantCulture, $"{Fault} | {Engine} | {ClientLabel} | EnableRetryOnFailure's run took {Elapsed.TotalMilliseconds:0} ms");
}

/// <summary>The matrix's table, mapped for EF Core.</summary>
internal sealed class MatrixItem
{
    public int Id { get; set; }

    public string Tag { get; set; } = "";
}

internal sealed class MatrixContext(DbContextOptions<MatrixContext> options) : DbContext(options)
{
    public DbSet<MatrixItem> Items => Set<MatrixItem>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        var item = modelBuilder.Entity<MatrixItem>().ToTable("items");
        item.Property(i => i.Id).HasColumnName("id");
        item.Property(i => i.Tag).HasColumnName("tag");
    }
}

/// <summary>
/// EF Core's two providers (Npgsql.EntityFrameworkCore.PostgreSQL, Pomelo.EntityFrameworkCore.MySql) on the
/// matrix's servers: a naive context (defaults, no execution strategy) meets each fault; then a context with
/// <c>EnableRetryOnFailure</c> (2 retries, short delays) meets it again, and the row says whether EF's strategy
/// retried it and recovered.
/// </summary>
internal static class EfMatrix
{
    public const string Client = "EF Core";

    /// <summary>A fault for the EF rows. <paramref name="Act"/> is the unit of work (the execution strategy runs it again
    /// on a retry; <see cref="Attempts"/> tells its first run from a retry); <paramref name="FreshSessions"/>: the fault
    /// is a setting new sessions get, or refuses new sessions, so the pools are emptied once it is in effect;
    /// <paramref name="Through"/>: the context connects through the kit's network proxy; <paramref name="Timed"/>: the
    /// context has a 1 s command timeout and a 2 s connect timeout (a client that wants to notice a server that stopped
    /// answering; with the defaults it waits 30 s); <paramref name="MayBeHidden"/>: the fault ends the pooled session
    /// (its premise is proven by the fault itself), and the provider's pool may replace it unseen.</summary>
    private sealed record Scenario(
        string Fault, bool Lasting, Func<TestDatabase, Task<IAsyncDisposable?>> Inject, Func<MatrixContext, TestDatabase, Attempts, Task> Act,
        bool FreshSessions = false, bool Through = false, bool Timed = false, bool MayBeHidden = false);

    /// <summary>How many times the execution strategy ran a scenario's unit of work.</summary>
    private sealed class Attempts
    {
        private int _count;

        /// <summary>True on the first run only.</summary>
        public bool First() => Interlocked.Increment(ref _count) == 1;
    }

    /// <summary>The first run opens the context's connection, then the fault hits the server; every run saves.</summary>
    private static async Task HeldThroughAsync(MatrixContext c, Attempts attempts, Func<Task> fault)
    {
        if (attempts.First())
        {
            await c.Database.OpenConnectionAsync();
            await fault();
        }

        await SaveAsync(c);
    }

    private static async Task<IAsyncDisposable?> Lasting(Task<IAsyncDisposable> fault) => await fault;

    private static readonly Scenario[] Scenarios =
    [
        // The session dies while the unit of work holds it (the first run only: a retry gets a healthy session).
        new("kill session", false, _ => Task.FromResult<IAsyncDisposable?>(null), async (c, db, attempts) =>
        {
            if (attempts.First())
            {
                await c.Database.OpenConnectionAsync();
                var connection = c.Database.GetDbConnection();
                var session = FaultMatrixTests.SessionIdOf(connection);
                await db.Faults.KillSessionAsync(connection);
                await ServerSessions.WaitUntilGoneAsync(db.Server, db.Server.Engine, session);
            }

            await SaveAsync(c);
        }),

        // The production "server has gone away": the pooled session died between two units of work.
        new("kill idle pooled sessions", false, async db =>
        {
            Assert.True(await db.Faults.KillIdleSessionsAsync() >= 1, "the kill ended no idle session: the pool's should have been");
            return null;
        }, (c, _, _) => SaveAsync(c), MayBeHidden: true),

        // A failover in the middle of a request: the session is killed while its transaction is open.
        new("kill busy sessions", false, _ => Task.FromResult<IAsyncDisposable?>(null), async (c, db, attempts) =>
        {
            c.ChangeTracker.Clear();
            await using var transaction = await c.Database.BeginTransactionAsync();
            c.Items.Add(new MatrixItem { Tag = "open" });
            await c.SaveChangesAsync();
            if (attempts.First())
            {
                var session = FaultMatrixTests.SessionIdOf(c.Database.GetDbConnection());
                await ServerSessions.WaitUntilInTransactionAsync(db.Server, db.Server.Engine, session);
                var killed = await db.Faults.KillBusySessionsAsync();
                Assert.True(killed >= 1, $"the kill of busy sessions ended {killed}, expected the context's session in its transaction");
                await ServerSessions.WaitUntilGoneAsync(db.Server, db.Server.Engine, session);
            }

            c.Items.Add(new MatrixItem { Tag = "write" });
            await c.SaveChangesAsync();
            await transaction.CommitAsync();
        }),

        // The server ends the pooled session once it idled past the timeout (sessions opened under the fault get it).
        new("idle timeout", false, async db => await db.Faults.SetIdleTimeoutAsync(TimeSpan.FromSeconds(1)), async (c, db, attempts) =>
        {
            if (attempts.First())
            {
                var session = await SessionOfPoolAsync(c);
                await ServerSessions.WaitUntilGoneAsync(db.Server, db.Server.Engine, session);
            }

            await SaveAsync(c);
        }, FreshSessions: true, MayBeHidden: true),

        // The server ends the session while the unit of work's transaction sits idle.
        new("idle in transaction timeout", false, async db => await db.Faults.SetIdleInTransactionTimeoutAsync(TimeSpan.FromSeconds(1)), async (c, db, attempts) =>
        {
            c.ChangeTracker.Clear();
            await using var transaction = await c.Database.BeginTransactionAsync();
            c.Items.Add(new MatrixItem { Tag = "open" });
            await c.SaveChangesAsync();
            if (attempts.First())
            {
                await ServerSessions.WaitUntilGoneAsync(db.Server, db.Server.Engine, FaultMatrixTests.SessionIdOf(c.Database.GetDbConnection()));
            }

            c.Items.Add(new MatrixItem { Tag = "write" });
            await c.SaveChangesAsync();
            await transaction.CommitAsync();
        }, FreshSessions: true),

        // The statement is cancelled while it runs (a retry, were there one, runs a short statement).
        new("cancel query", false, _ => Task.FromResult<IAsyncDisposable?>(null), async (c, db, attempts) =>
        {
            var engine = db.Server.Engine;
            if (!attempts.First())
            {
                await c.Database.ExecuteSqlRawAsync("SELECT 1");
                return;
            }

            await c.Database.OpenConnectionAsync();
            var connection = c.Database.GetDbConnection();
            var running = c.Database.ExecuteSqlRawAsync(engine == DbEngine.PostgreSql ? "SELECT pg_sleep(10)" : "SELECT SLEEP(10)");
            await ServerSessions.WaitUntilRunningAsync(db.Server, engine, FaultMatrixTests.SessionIdOf(connection));
            await db.Faults.CancelQueryAsync(connection);
            await running;
        }),

        // Another session holds a lock on the table; the unit of work sets a short lock timeout first, as Npgsql's row does.
        new("hold lock (lock timeout)", true, db => Lasting(db.Faults.HoldLockAsync("items")), async (c, db, _) =>
        {
            await c.Database.OpenConnectionAsync();
            await c.Database.ExecuteSqlRawAsync(db.Server.Engine == DbEngine.PostgreSql ? "SET lock_timeout = '200ms'" : "SET SESSION lock_wait_timeout = 1");
            await SaveAsync(c);
        }),

        new("statement timeout", false, async db => await db.Faults.SetStatementTimeoutAsync(TimeSpan.FromMilliseconds(200)),
            (c, db, _) => c.Database.ExecuteSqlRawAsync(db.Server.Engine == DbEngine.PostgreSql ? "SELECT pg_sleep(5)" : "SELECT SLEEP(5)"), FreshSessions: true),
        new("read-only (failover to a replica)", true, async db => await db.Faults.SetReadOnlyAsync(), (c, _, _) => SaveAsync(c), FreshSessions: true),
        new("exhaust connections", true, db => Lasting(db.Faults.ExhaustConnectionsAsync()), (c, _, _) => SaveAsync(c), FreshSessions: true),

        // The server dies (and comes back) while the unit of work holds its connection, as in the driver rows. (Not
        // while the session rests in the pool: the kit empties this process's driver pools after a crash or a restart,
        // as every pooled session died, and no production pool would have that help.)
        new("crash", false, _ => Task.FromResult<IAsyncDisposable?>(null), (c, db, attempts) => HeldThroughAsync(c, attempts, () => db.Faults.CrashServerAsync())),
        new("restart", false, _ => Task.FromResult<IAsyncDisposable?>(null), (c, db, attempts) => HeldThroughAsync(c, attempts, () => db.Faults.RestartServerAsync())),
        new("freeze", true, db => Lasting(db.Faults.FreezeServerAsync()), (c, _, _) => SaveAsync(c), Timed: true),

        new("network reset", false, async db =>
        {
            var reset = await db.Faults.Network.ResetConnectionsAsync();
            Assert.True(reset >= 1, $"the reset ended {reset} connections through the proxy, expected the pool's");
            return null;
        }, (c, _, _) => SaveAsync(c), Through: true, MayBeHidden: true),
        new("network refuses new connections", true, db => Lasting(db.Faults.Network.RefuseNewConnectionsAsync()), (c, _, _) => SaveAsync(c), FreshSessions: true, Through: true),
        new("network stall", true, db => Lasting(db.Faults.Network.StallAsync()), (c, _, _) => SaveAsync(c), Through: true, Timed: true),
        new("network cut in a reply", true, db => Lasting(db.Faults.Network.CloseAfterBytesAsync(1)), (c, _, _) => SaveAsync(c), Through: true),

        // The reply to COMMIT is lost after the server committed (an explicit transaction: EF's SaveChanges of one row has none).
        new("ambiguous commit", false, db => Lasting(db.Faults.Network.AmbiguousCommitAsync()), async (c, _, _) =>
        {
            c.ChangeTracker.Clear();
            await using var transaction = await c.Database.BeginTransactionAsync();
            c.Items.Add(new MatrixItem { Tag = "paid" });
            await c.SaveChangesAsync();
            await transaction.CommitAsync();
        }, Through: true),
    ];

    public static async Task<IReadOnlyList<EfRow>> RunAsync(DbEngine engine, DatabasePool pool)
    {
        var rows = new List<EfRow>();
        foreach (var scenario in Scenarios)
        {
            FaultMatrixTests.ClearDriverPools();
            await using var db = await pool.LeaseAsync();
            var serverVersion = "";
            Exception? error = null;
            var state = ConnectionState.Closed;

            // The naive context: the provider's defaults.
            await using (var naive = Context(db, scenario, retry: false))
            {
                await WarmAsync(naive, db);
                serverVersion = await ServerVersionAsync(db);
                await using (await PrepareAsync(scenario, naive, db))
                {
                    try
                    {
                        await scenario.Act(naive, db, new Attempts());
                    }
                    catch (Exception e)
                    {
                        error = e;
                    }

                    state = naive.Database.GetDbConnection().State;
                }
            }

            // The premise: the fault reached the naive context (the idle kill proved its own: it ended the pooled session).
            Assert.True(error is not null || scenario.MayBeHidden,
                $"{scenario.Fault} on {engine}: the naive EF Core context met no error, so the fault never reached it");

            // The same fault against EF's retrying execution strategy.
            FaultMatrixTests.ClearDriverPools();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            string recovers;
            var paidBefore = await CountAsync(db, "paid");
            await using (var resilient = Context(db, scenario, retry: true))
            {
                await WarmAsync(resilient, db);
                Exception? resilientError = null;
                await using (var fault = new Once(await PrepareAsync(scenario, resilient, db)))
                {
                    try
                    {
                        var attempts = new Attempts();
                        var runs = 0;
                        await resilient.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
                        {
                            if (++runs > 1 && scenario.Lasting)
                            {
                                await fault.DisposeAsync(); // a lasting fault ends while the client retries, as a failover does
                            }

                            await scenario.Act(resilient, db, attempts);
                        });
                    }
                    catch (Exception e)
                    {
                        resilientError = e;
                    }
                }

                recovers = (error, resilientError) switch
                {
                    (null, _) => "nothing to do: the pool's check on borrow replaced the dead session",
                    (_, null) when scenario.Lasting => "EnableRetryOnFailure retries it; once the fault ends (here at its first retry) the retry succeeds",
                    (_, null) => "EnableRetryOnFailure: the execution strategy's retry (a new session)",
                    (_, RetryLimitExceededException) => "EnableRetryOnFailure retries it but does not recover",
                    _ => "EnableRetryOnFailure does not retry it (not transient to the provider: the same error comes straight out)",
                };
                if (scenario.Fault == "ambiguous commit" && resilientError is null)
                {
                    var written = await CountAsync(db, "paid") - paidBefore;
                    recovers += written == 2
                        ? "; the lost COMMIT had committed, so the retry wrote the row a second time"
                        : $"; the unit of work wrote {written} row(s)";
                }
            }

            if (error is not null && EfRow.TimingDecides.TryGetValue((scenario.Fault, engine), out var chains))
            {
                Assert.Contains(MatrixDocument.Chain(error), chains);
            }

            rows.Add(new EfRow(scenario.Fault, engine, ClientLabel(engine), MatrixDocument.EngineName(engine, serverVersion), error, state, recovers, clock.Elapsed));
        }

        return rows;
    }

    /// <summary>Leaves one idle session in the context's pool (a unit of work done), as an application between requests.</summary>
    private static async Task WarmAsync(MatrixContext context, TestDatabase db)
    {
        context.Items.Add(new MatrixItem { Tag = "warm" });
        await context.SaveChangesAsync();
        context.ChangeTracker.Clear();
        await ServerSessions.WaitUntilIdleAsync(db.Server, db.Server.Engine, await SessionOfPoolAsync(context));
    }

    /// <summary>The session the context's pool holds: opening the context's connection borrows it.</summary>
    private static async Task<long> SessionOfPoolAsync(MatrixContext context)
    {
        await context.Database.OpenConnectionAsync();
        try
        {
            return FaultMatrixTests.SessionIdOf(context.Database.GetDbConnection());
        }
        finally
        {
            await context.Database.CloseConnectionAsync();
        }
    }

    private static async Task<IAsyncDisposable> PrepareAsync(Scenario scenario, MatrixContext context, TestDatabase db)
    {
        _ = context;
        if (scenario.FreshSessions)
        {
            // Before the fault too: closing the pools' sessions once every connection is taken would free one.
            FaultMatrixTests.ClearDriverPools();
        }

        var fault = await scenario.Inject(db) ?? Nothing.Instance;
        if (scenario.FreshSessions && scenario.Fault != "exhaust connections")
        {
            FaultMatrixTests.ClearDriverPools();
        }

        return fault;
    }

    private static async Task SaveAsync(MatrixContext context)
    {
        context.ChangeTracker.Clear();
        context.Items.Add(new MatrixItem { Tag = "write" });
        await context.SaveChangesAsync();
    }

    private static async Task<long> CountAsync(TestDatabase db, string tag)
    {
        await using var connection = db.Server.CreateConnection(db.ConnectionString);
        await connection.OpenAsync();
        return await connection.CountAsync($"items WHERE tag = '{tag}'");
    }

    private static MatrixContext Context(TestDatabase db, Scenario scenario, bool retry)
    {
        var options = new DbContextOptionsBuilder<MatrixContext>();
        var cs = scenario.Through ? db.Faults.Network.ConnectionString : db.ConnectionString;
        if (scenario.Timed)
        {
            cs += db.Server.Engine == DbEngine.PostgreSql ? ";Timeout=2" : ";Connection Timeout=2";
        }

        if (db.Server.Engine == DbEngine.PostgreSql)
        {
            options.UseNpgsql(cs, o =>
            {
                if (scenario.Timed)
                {
                    o.CommandTimeout(1);
                }

                if (retry)
                {
                    o.EnableRetryOnFailure(2, TimeSpan.FromMilliseconds(100), null);
                }
            });
        }
        else
        {
            options.UseMySql(cs, new MariaDbServerVersion(new Version(10, 11)), o =>
            {
                if (scenario.Timed)
                {
                    o.CommandTimeout(1);
                }

                if (retry)
                {
                    o.EnableRetryOnFailure(2, TimeSpan.FromMilliseconds(100), null);
                }
            });
        }

        return new MatrixContext(options.Options);
    }

    private static async Task<string> ServerVersionAsync(TestDatabase db)
    {
        await using var connection = db.Server.CreateConnection(db.ConnectionString);
        await connection.OpenAsync();
        return connection.ServerVersion;
    }

    private static string ClientLabel(DbEngine engine)
    {
        var efCore = Version(typeof(DbContext).Assembly);
        return engine == DbEngine.PostgreSql
            ? $"EF Core {efCore} + Npgsql.EntityFrameworkCore.PostgreSQL {Version(typeof(NpgsqlDbContextOptionsBuilderExtensions).Assembly)}"
            : $"EF Core {efCore} + Pomelo.EntityFrameworkCore.MySql {Version(typeof(MySqlDbContextOptionsBuilderExtensions).Assembly)}";
    }

    private static string? Version(Assembly assembly) =>
        assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0];

    /// <summary>Disposes what it wraps once, whoever asks first.</summary>
    private sealed class Once(IAsyncDisposable inner) : IAsyncDisposable
    {
        private int _done;

        public ValueTask DisposeAsync() => Interlocked.Exchange(ref _done, 1) == 0 ? inner.DisposeAsync() : default;
    }

    private sealed class Nothing : IAsyncDisposable
    {
        public static readonly Nothing Instance = new();

        public ValueTask DisposeAsync() => default;
    }
}
