using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using TestDbKit.Databases;
using TestDbKit.Engines;

namespace TestDbKit.Benchmarks;

/// <summary>This process's footprint: the managed heap after a forced full collection, the working set, and the
/// open file descriptors.</summary>
internal readonly record struct SoakFootprint(long HeapBytes, long WorkingSetBytes, int FileDescriptors)
{
    /// <summary>Memory that survives a full collection may grow by this much beyond what the soak keeps by design
    /// (<see cref="HeapPerWrite"/>): the kit's fault timeline keeps a record per fault, and the drivers' pools and type
    /// caches settle after the first minutes. A leaked connection or proxy link per fault or per retry outgrows it.</summary>
    public const long HeapTolerance = 64L << 20;

    /// <summary>The ledger keeps every write (its key, outcome, times and the error it met; about 300 bytes measured),
    /// on purpose: the check at the end needs them all. Allowed on top of <see cref="HeapTolerance"/>.</summary>
    public const long HeapPerWrite = 512;

    /// <summary>Descriptors may grow by this much: the drivers' pools hold a connection per writer (4) plus a few
    /// for the kit's control and admin sessions, and the proxy a listener; a leak of one per write or per fault
    /// outgrows it at once.</summary>
    public const int FileDescriptorTolerance = 16;

    public static SoakFootprint Now()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        using var self = Process.GetCurrentProcess();
        return new SoakFootprint(GC.GetTotalMemory(forceFullCollection: true), self.WorkingSet64, Directory.GetFiles("/proc/self/fd").Length);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"heap {HeapBytes / 1048576.0:0.0} MB, working set {WorkingSetBytes / 1048576.0:0.0} MB, {FileDescriptors} fds");
}

/// <summary>The kit's invariants after a soak, each check returning what is wrong (null when it holds). Engine
/// specifics come from the engine's dialect, as everywhere outside <c>src/TestDbKit/Engines/</c>.</summary>
internal static class SoakChecks
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    /// <summary>A connection of its own (no pool): a check must not leave one behind, nor reuse one a fault broke.</summary>
    public static Task<DbConnection> OpenAsync(EngineDialect dialect, string connectionString, CancellationToken ct) =>
        dialect.OpenAsync(dialect.ForProbe(connectionString, TimeSpan.FromSeconds(5)), ct);

    /// <summary>A write a read-only database refuses, rolled back: the probe leaves nothing.</summary>
    public static async Task ProbeWriteAsync(DbConnection connection, CancellationToken ct)
    {
        await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandTimeout = 5;
            command.CommandText = $"INSERT INTO {SoakWriters.Table} (k, attempt, writer) VALUES ('probe', -1, -1)";
            await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await transaction.RollbackAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The server's idle timeouts a new session of the database gets (read-only and timeouts are what the
    /// setting faults change).</summary>
    public static async Task<(TimeSpan Idle, TimeSpan IdleInTransaction)> TimeoutsAsync(TestDatabase db, CancellationToken ct)
    {
        var dialect = db.Server.Dialect;
        await using var connection = await OpenAsync(dialect, db.ConnectionString, ct).ConfigureAwait(false);
        return await dialect.ServerTimeoutsAsync(connection, ct).ConfigureAwait(false);
    }

    /// <summary>Sessions on the soak's database, as the server lists them.</summary>
    public static async Task<int> SessionsAsync(TestDatabase db, CancellationToken ct)
    {
        var dialect = db.Server.Dialect;
        await using var admin = await OpenAsync(dialect, db.Server.AdminConnectionString, ct).ConfigureAwait(false);
        return (await admin.ReadColumnAsync(dialect.SessionsOfDatabaseSql(db.Name), _ => 0, ct).ConfigureAwait(false)).Count;
    }

    /// <summary>Polls until the database's sessions are back to <paramref name="baseline"/>: a closed connection's
    /// session ends on the server a moment later. The caller clears the drivers' pools first, so a session left is one
    /// whose connection was never closed (resting in a pool is no leak).</summary>
    public static async Task<string?> NoLeakedSessionAsync(TestDatabase db, int baseline, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        int now;
        while ((now = await SessionsAsync(db, ct).ConfigureAwait(false)) > baseline)
        {
            if (clock.Elapsed > Patience)
            {
                return $"{now} session(s) on {db.Name} {Patience.TotalSeconds:0} s after the writers stopped and the drivers' pools were cleared; {baseline} before the soak";
            }

            await Task.Delay(50, ct).ConfigureAwait(false);
        }

        return null;
    }

    /// <summary>Only the pool's databases on the server: its template and the soak's lease.</summary>
    public static async Task<string?> NoStrayDatabaseAsync(TestDatabase db, CancellationToken ct)
    {
        var dialect = db.Server.Dialect;
        await using var admin = await OpenAsync(dialect, db.Server.AdminConnectionString, ct).ConfigureAwait(false);
        var names = await admin.ReadColumnAsync(dialect.ListDatabasesSql(DatabaseNames.Prefix), r => r.GetString(0), ct).ConfigureAwait(false);
        var stray = names.Where(n => n != db.Name && n != db.Pool.TemplateName).ToList();
        return stray.Count == 0 ? null : $"database(s) the pool does not hold: {string.Join(", ", stray)}";
    }

    /// <summary>The server answers at once (not frozen), and no process of a Local server is stopped.</summary>
    public static async Task<string?> NotFrozenAsync(DbServer server, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            await using var admin = await OpenAsync(server.Dialect, server.AdminConnectionString, ct).ConfigureAwait(false);
            await admin.ScalarAsync("SELECT 1", ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DbException or TimeoutException or InvalidOperationException)
        {
            return $"the server did not answer a probe ({e.GetType().Name}: {e.Message.Split('\n')[0]})";
        }

        if (clock.Elapsed > TimeSpan.FromSeconds(2))
        {
            return $"the server took {clock.Elapsed.TotalMilliseconds:0} ms to answer a probe";
        }

        var stopped = server.Instance.ProcessId is { } pid ? ProcessGroup(pid).Where(p => p.State is 'T' or 't').ToList() : [];
        return stopped.Count == 0 ? null : $"stopped server process(es): {string.Join(", ", stopped.Select(p => p.Pid))}";
    }

    /// <summary>A proxied write may be this much slower than a direct one (the best of a few each): a leftover
    /// latency of the catalogue's 50 ms on each of a write's round trips (connect, begin, insert, commit) adds several
    /// times as much, while the proxy's own cost is well under a millisecond.</summary>
    public static readonly TimeSpan ProxyOverhead = TimeSpan.FromMilliseconds(150);

    /// <summary>Writes through the proxy go through, about as fast as direct ones: no stall, refusal, cut, latency,
    /// bandwidth limit or armed ambiguous COMMIT is left on it.</summary>
    public static async Task<string?> ProxyCleanAsync(EngineDialect dialect, string proxied, string direct, CancellationToken ct)
    {
        var best = new Dictionary<string, TimeSpan>();
        foreach (var (way, connectionString) in new[] { ("proxied", proxied), ("direct", direct) })
        {
            best[way] = TimeSpan.MaxValue;
            for (var i = 0; i < 3; i++)
            {
                var clock = Stopwatch.StartNew();
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    timeout.CancelAfter(TimeSpan.FromSeconds(5));
                    await using var connection = await OpenAsync(dialect, connectionString, timeout.Token).ConfigureAwait(false);
                    await ProbeWriteAsync(connection, timeout.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is DbException or TimeoutException or OperationCanceledException or InvalidOperationException)
                {
                    return $"a {way} write failed after the faults: {e.GetType().Name}: {e.Message.Split('\n')[0]}";
                }

                best[way] = clock.Elapsed < best[way] ? clock.Elapsed : best[way];
            }
        }

        return best["proxied"] - best["direct"] <= ProxyOverhead ? null : string.Create(CultureInfo.InvariantCulture,
            $"a write through the proxy took {best["proxied"].TotalMilliseconds:0} ms at best, a direct one {best["direct"].TotalMilliseconds:0} ms (allowed: {ProxyOverhead.TotalMilliseconds:0} ms more)");
    }

    /// <summary>After the server is disposed: no process of it (Local: nothing running from its folder) and no
    /// container of it (Docker) remains.</summary>
    public static async Task<string?> NoOrphanAsync(DbServerProvider provider, string? folder, string description, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var left = provider == DbServerProvider.Docker ? await ContainersAsync(description, ct).ConfigureAwait(false) : ProcessesUsing(folder);
            if (left.Count == 0)
            {
                return null;
            }

            if (clock.Elapsed > Patience)
            {
                return $"{Patience.TotalSeconds:0} s after the server was disposed, still there: {string.Join("; ", left)}";
            }

            await Task.Delay(100, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Processes whose command line names <paramref name="folder"/> (the server, its watchdog).</summary>
    private static List<string> ProcessesUsing(string? folder)
    {
        if (string.IsNullOrEmpty(folder))
        {
            return [];
        }

        var found = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                var commandLine = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (commandLine.Contains(folder, StringComparison.Ordinal))
                {
                    found.Add($"pid {pid}: {(commandLine.Length > 120 ? commandLine[..120] : commandLine)}");
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // gone meanwhile, or not ours to read
            }
        }

        return found;
    }

    /// <summary>The processes of the group <paramref name="leader"/> leads (a Local server runs under setsid) with their state.</summary>
    private static List<(int Pid, char State)> ProcessGroup(int leader)
    {
        var members = new List<(int, char)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(fields[2], CultureInfo.InvariantCulture) == leader)
                {
                    members.Add((pid, fields[0][0]));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // gone meanwhile
            }
        }

        return members;
    }

    private static async Task<List<string>> ContainersAsync(string description, CancellationToken ct)
    {
        var id = Regex.Match(description, "container ([0-9a-f]{6,})").Groups[1].Value;
        if (id.Length == 0)
        {
            return [$"no container id in '{description}'"];
        }

        var psi = new ProcessStartInfo("docker") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "ps", "-aq", "--filter", $"id={id}" })
        {
            psi.ArgumentList.Add(arg);
        }

        using var docker = Process.Start(psi) ?? throw new InvalidOperationException("could not run docker");
        var stdout = await docker.StandardOutput.ReadToEndAsync(ct).ConfigureAwait(false);
        await docker.WaitForExitAsync(ct).ConfigureAwait(false);
        return docker.ExitCode != 0 ? [$"docker ps failed ({docker.ExitCode})"]
            : [.. stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(c => "container " + c)];
    }
}
