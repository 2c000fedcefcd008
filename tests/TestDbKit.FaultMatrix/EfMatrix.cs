using System.Data;
using System.Globalization;
using System.Reflection;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace TestDbKit.FaultMatrix;

/// <summary>An EF Core provider's row: what SaveChanges (or a raw statement) met, and what EF's own retrying
/// execution strategy (<c>EnableRetryOnFailure</c>) made of it.</summary>
internal sealed record EfRow(string Fault, DbEngine Engine, string ClientLabel, string EngineLabel, Exception? Error, ConnectionState State, string Recovers, TimeSpan Elapsed) : IMatrixRow
{
    public string Cells => MatrixDocument.CellsOf(Error, State, Recovers);

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

    /// <summary>A fault for the EF rows; <paramref name="FreshSessions"/>: the fault is a setting new sessions get,
    /// so the pools are emptied once it is in effect.</summary>
    private sealed record Scenario(string Fault, bool Lasting, Func<TestDatabase, Task<IAsyncDisposable?>> Inject, Func<MatrixContext, TestDatabase, Task> Act, bool FreshSessions = false);

    private static readonly Scenario[] Scenarios =
    [
        // The production "server has gone away": the pooled session died between two units of work.
        new("kill idle pooled sessions", false, async db =>
        {
            Assert.True(await db.Faults.KillIdleSessionsAsync() >= 1, "the kill ended no idle session: the pool's should have been");
            return null;
        }, (c, _) => SaveAsync(c)),
        new("statement timeout", false, async db => await db.Faults.SetStatementTimeoutAsync(TimeSpan.FromMilliseconds(200)),
            (c, db) => c.Database.ExecuteSqlRawAsync(db.Server.Engine == DbEngine.PostgreSql ? "SELECT pg_sleep(5)" : "SELECT SLEEP(5)"), FreshSessions: true),
        new("read-only (failover to a replica)", true, async db => await db.Faults.SetReadOnlyAsync(), (c, _) => SaveAsync(c), FreshSessions: true),
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
            await using (var naive = Context(db, retry: false))
            {
                await WarmAsync(naive, db);
                await using (await PrepareAsync(scenario, naive, db))
                {
                    serverVersion = await ServerVersionAsync(db);
                    try
                    {
                        await scenario.Act(naive, db);
                    }
                    catch (Exception e)
                    {
                        error = e;
                    }

                    state = naive.Database.GetDbConnection().State;
                }
            }

            // The premise: the fault reached the naive context (the idle kill proved its own: it ended the pooled session).
            Assert.True(error is not null || scenario.Fault == "kill idle pooled sessions",
                $"{scenario.Fault} on {engine}: the naive EF Core context met no error, so the fault never reached it");

            // The same fault against EF's retrying execution strategy.
            FaultMatrixTests.ClearDriverPools();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            string recovers;
            await using (var resilient = Context(db, retry: true))
            {
                await WarmAsync(resilient, db);
                Exception? resilientError = null;
                await using (var fault = await PrepareAsync(scenario, resilient, db))
                {
                    try
                    {
                        await resilient.Database.CreateExecutionStrategy().ExecuteAsync(() => scenario.Act(resilient, db));
                    }
                    catch (Exception e)
                    {
                        resilientError = e;
                    }
                }

                recovers = (error, resilientError) switch
                {
                    (null, _) => "nothing to do: the pool's check on borrow replaced the dead session",
                    (_, null) => "EnableRetryOnFailure: the execution strategy's retry (a new session)",
                    (_, RetryLimitExceededException) when scenario.Lasting => "EnableRetryOnFailure retries it, until the fault ends",
                    (_, RetryLimitExceededException) => "EnableRetryOnFailure retries it but does not recover",
                    _ => "EnableRetryOnFailure does not retry it (not transient to the provider: the same error comes straight out)",
                };
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
        var fault = await scenario.Inject(db) ?? Nothing.Instance;
        if (scenario.FreshSessions)
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

    private static MatrixContext Context(TestDatabase db, bool retry)
    {
        var options = new DbContextOptionsBuilder<MatrixContext>();
        if (db.Server.Engine == DbEngine.PostgreSql)
        {
            options.UseNpgsql(db.ConnectionString, o =>
            {
                if (retry)
                {
                    o.EnableRetryOnFailure(2, TimeSpan.FromMilliseconds(100), null);
                }
            });
        }
        else
        {
            options.UseMySql(db.ConnectionString, new MariaDbServerVersion(new Version(10, 11)), o =>
            {
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

    private sealed class Nothing : IAsyncDisposable
    {
        public static readonly Nothing Instance = new();

        public ValueTask DisposeAsync() => default;
    }
}
