using System.Data.Common;
using System.Diagnostics;
using System.Text;
using TestDbKit.Sessions;

namespace TestDbKit.Benchmarks;

/// <summary>
/// What the base classes add to a test, the way a suite pays it: the adapter's own calls (options resolved per test,
/// the run-wide pool looked up, the test's output captured), the lease, a connection proven alive, the end-of-test
/// checks, the reset of what the test wrote and the session settle, around tests like an app's (a 50-table schema;
/// 6 in 10 write 1–3 rows into 2 tables, 3 read, 1 ends in a unique violation). Against the same bodies on a raw
/// pooled connection, and beside the old measure (an empty schema and <c>SELECT 1</c>), interleaved in one run;
/// then where the kit's time goes, phase by phase.
/// dotnet run -c Release --project bench/TestDbKit.Benchmarks -- lifecycle [--runs N] [--engine E] [--provider local|docker]
/// </summary>
internal static class Lifecycle
{
    private const int Tables = 50;

    /// <summary>--trace-inline: the traced kit variant resets on the test's path, to see the inline reset's phases.</summary>
    private static readonly bool TraceInline = Environment.GetCommandLineArgs().Contains("--trace-inline");

    public static async Task RunAsync(int iterations)
    {
        var args = Environment.GetCommandLineArgs();
        var engines = Arg(args, "--engine") is { } e ? [Enum.Parse<DbEngine>(e, ignoreCase: true)] : new[] { DbEngine.PostgreSql, DbEngine.MySql };
        var providers = Arg(args, "--provider") is { } p
            ? [Enum.Parse<DbServerProvider>(p, ignoreCase: true)]
            : await Servers.DockerProbe.WhyUnavailableAsync() is null ? new[] { DbServerProvider.Local, DbServerProvider.Docker } : [DbServerProvider.Local];
        Console.WriteLine($"Per-test cost on one thread, {iterations} tests each, interleaved, ms (p50, p90 over the tests)");
        Console.WriteLine("raw: the body on a pooled driver connection; kit: the base class's calls around the same body");
        Console.WriteLine("(the reset runs after the test, beside the next one); kit inline: the same with the reset on the test's path");
        Console.WriteLine("(as before); kit empty: the old measure (no schema, SELECT 1); overhead = kit minus raw");
        foreach (var (engine, provider) in engines.SelectMany(x => providers.Select(y => (x, y))))
        {
            await RunAsync(engine, provider, iterations).ConfigureAwait(false);
        }
    }

    private static async Task RunAsync(DbEngine engine, DbServerProvider provider, int iterations)
    {
        var output = new List<string>();
        var app = For(typeof(AppSchema), engine, provider, output, AppSchema.CreateAsync);
        var empty = For(typeof(EmptySchema), engine, provider, output, (_, _) => Task.CompletedTask);

        // The raw anchor works on a database of the app's pool, leased once for the whole run.
        var pool = await PoolRegistry.GetAsync(engine, app.SchemaKey, app.CreateSchema, app.Isolation, app.Pool, app.Server, default);
        await using var rawDb = await pool.LeaseAsync();
        var phases = new Dictionary<string, List<double>>();
        var raw = new List<double>();
        var kit = new List<double>();
        var kitEmpty = new List<double>();
        var kitInline = new List<double>();
        var body = new List<double>();
        var counts = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        var current = new Dictionary<string, double>();
        var tracing = false;
        SessionTrace.Observer = (phase, ms) =>
        {
            if (phase.StartsWith("settle:", StringComparison.Ordinal))
            {
                counts.AddOrUpdate(phase, 1, (_, n) => n + 1); // in every variant: a new session generation is rare
            }
            else if (Volatile.Read(ref tracing))
            {
                lock (current)
                {
                    current[phase] = current.GetValueOrDefault(phase) + ms;
                }
            }
        };
        for (var i = -30; i < iterations; i++)
        {
            var warm = i >= 0;
            var clock = Stopwatch.StartNew();
            await using (var connection = await rawDb.OpenConnectionAsync())
            {
                await BodyAsync(connection, i);
            }

            Add(raw, warm, clock);

            lock (current)
            {
                current.Clear();
            }

            Volatile.Write(ref tracing, true);
            TestSession.ResetInBackground = !TraceInline;
            clock.Restart();
            var since = Stopwatch.GetTimestamp();
            var options = For(typeof(AppSchema), engine, provider, output, AppSchema.CreateAsync);
            current["adapter: resolve options"] = Stopwatch.GetElapsedTime(since).TotalMilliseconds;
            var session = await TestSession.StartAsync(options, default);
            since = Stopwatch.GetTimestamp();
            await BodyAsync(session.CurrentConnection(), i);
            var bodyMs = Stopwatch.GetElapsedTime(since).TotalMilliseconds;
            await session.EndAsync(default);
            Add(kit, warm, clock);
            TestSession.ResetInBackground = true;
            Volatile.Write(ref tracing, false);
            if (warm)
            {
                body.Add(bodyMs);
                lock (current)
                {
                    foreach (var (phase, ms) in current)
                    {
                        (phases.TryGetValue(phase, out var list) ? list : phases[phase] = []).Add(ms);
                    }
                }
            }

            clock.Restart();
            TestSession.ResetInBackground = false;
            var inline = await TestSession.StartAsync(For(typeof(AppSchema), engine, provider, output, AppSchema.CreateAsync), default);
            await BodyAsync(inline.CurrentConnection(), i);
            await inline.EndAsync(default);
            TestSession.ResetInBackground = true;
            Add(kitInline, warm, clock);

            clock.Restart();
            var plain = await TestSession.StartAsync(For(typeof(EmptySchema), engine, provider, output, empty.CreateSchema), default);
            await using (var command = plain.CurrentConnection().CreateCommand())
            {
                command.CommandText = "SELECT 1";
                await command.ExecuteScalarAsync();
            }

            await plain.EndAsync(default);
            Add(kitEmpty, warm, clock);
        }

        var (r, k, ki, ke) = (Stats.Of(raw), Stats.Of(kit), Stats.Of(kitInline), Stats.Of(kitEmpty));
        Console.WriteLine();
        Console.WriteLine($"{engine} {provider}: {"raw",12} {"kit",12} {"kit inline",12} {"kit empty",12} {"overhead",9} {"inline overhead",16}");
        Console.WriteLine($"{"",-18}{r.Median,6:0.00}/{r.P90,5:0.00} {k.Median,6:0.00}/{k.P90,5:0.00} {ki.Median,6:0.00}/{ki.P90,5:0.00} {ke.Median,6:0.00}/{ke.P90,5:0.00} {k.Median - r.Median,9:0.00} {ki.Median - r.Median,16:0.00}");
        Console.WriteLine($"  where the kit's test goes, p50 (p90), ms (the return's phases run beside the next test); the body itself {Stats.Of(body).Median:0.00}:");
        foreach (var (phase, list) in phases.OrderBy(x => Order(x.Key)))
        {
            var s = Stats.Of(list);
            Console.WriteLine($"    {phase,-32} {s.Median,6:0.00} ({s.P90:0.00})");
        }

        SessionTrace.Observer = null;
        foreach (var (what, n) in counts)
        {
            Console.WriteLine($"    {what}: {n} time(s) over all variants");
        }

        if (output.Count > 0)
        {
            Console.WriteLine($"  the kit wrote {output.Count} line(s) to the tests' output, e.g. {output[0]}");
        }
    }

    private static int Order(string phase) => phase.StartsWith("adapter", StringComparison.Ordinal) ? 0
        : phase.StartsWith("start", StringComparison.Ordinal) ? 1 : phase.StartsWith("end: prove", StringComparison.Ordinal) ? 2
        : phase.StartsWith("end: close", StringComparison.Ordinal) ? 3 : phase.StartsWith("return", StringComparison.Ordinal) ? 4 : 5;

    private static void Add(List<double> samples, bool warm, Stopwatch clock)
    {
        if (warm)
        {
            samples.Add(clock.Elapsed.TotalMilliseconds);
        }
    }

    /// <summary>What the xunit v2 base class does before each test: resolve the class's options, with the test's
    /// output captured the way xunit's helper does.</summary>
    private static SessionOptions For(Type testClass, DbEngine engine, DbServerProvider provider, List<string> output, Func<SchemaTarget, CancellationToken, Task> schema) =>
        SessionOptionsResolver.For(testClass, testClass.FullName + ".Test", engine, IsolationMode.Reset,
            o => o.Provider = provider, schema, resetBefore: false, new TestOutput(line => { lock (output) { output.Add(line); } }));

    /// <summary>An app-like test, picked by <paramref name="i"/>: 6 in 10 write 1–3 rows into 2 tables, 3 read, 1
    /// meets a unique violation.</summary>
    private static async Task BodyAsync(DbConnection connection, int i)
    {
        var n = ((i % 10) + 10) % 10;
        var ia = ((i * 7 % Tables) + Tables) % Tables;
        var a = $"t{ia}";
        var b = $"t{(ia + 1 + n) % Tables}";
        var u = i * 10; // unique in the run: the raw anchor never resets
        await using var command = connection.CreateCommand();
        if (n < 6)
        {
            var rows = 1 + (n % 3);
            var sql = new StringBuilder();
            for (var r = 0; r < rows; r++)
            {
                sql.Append($"INSERT INTO {a} (v, u) VALUES ({r}, {u + r});INSERT INTO {b} (v, u) VALUES ({r}, {u + r});");
            }

            command.CommandText = sql.ToString();
            await command.ExecuteNonQueryAsync();
        }
        else if (n < 9)
        {
            command.CommandText = $"SELECT COUNT(*) FROM {a}";
            await command.ExecuteScalarAsync();
        }
        else
        {
            command.CommandText = $"INSERT INTO {a} (v, u) VALUES (1, {u + 9});INSERT INTO {a} (v, u) VALUES (2, {u + 9})";
            try
            {
                await command.ExecuteNonQueryAsync();
            }
            catch (DbException)
            {
                // The test expects the violation.
            }
        }
    }

    private static string? Arg(string[] args, string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();

    /// <summary>The app's schema: its own pool, like a test class with a CreateSchemaAsync.</summary>
    private sealed class AppSchema
    {
        public static async Task CreateAsync(SchemaTarget target, CancellationToken ct)
        {
            var id = target.Engine == DbEngine.PostgreSql ? "SERIAL PRIMARY KEY" : "INT AUTO_INCREMENT PRIMARY KEY";
            var sql = new StringBuilder();
            for (var t = 0; t < Tables; t++)
            {
                sql.Append($"CREATE TABLE t{t} (id {id}, v INT NOT NULL, u INT NOT NULL UNIQUE);");
            }

            await using var connection = await target.OpenConnectionAsync(ct);
            await using var command = connection.CreateCommand();
            command.CommandText = sql.ToString();
            await command.ExecuteNonQueryAsync(ct);
        }
    }

    /// <summary>No schema: the old measure.</summary>
    private sealed class EmptySchema;
}
