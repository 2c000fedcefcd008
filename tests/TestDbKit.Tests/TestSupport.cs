global using TestDbKit.Tests.Common;
using System.Diagnostics;

namespace TestDbKit.Tests;

internal static class TestSupport
{
    public static TheoryData<DbEngine> BothEngines => new() { DbEngine.PostgreSql, DbEngine.MySql };

    // ScalarAsync, ExecuteAsync and SessionIdAsync on a connection live in tests/Shared/DbCommands.cs (one copy
    // for every test project), imported everywhere here by the global using above.

    public static async Task<object?> ScalarAsync(this DbServer server, string sql)
    {
        await using var connection = await server.OpenAdminConnectionAsync();
        return await connection.ScalarAsync(sql);
    }

    /// <summary>Reads INNODB_TRX every <paramref name="every"/> (default 20 ms) until cancelled, as a monitor
    /// might: InnoDB refreshes that copy only after 0.1 s without readers, so it stays stale meanwhile. When
    /// <paramref name="firstRead"/> is given it is completed once the first read is done. A lost connection (a
    /// neighbour's fault) is replaced, and <paramref name="reads"/> tells how steadily it read, for a test's message.</summary>
    public static Task KeepReadingTransactionListAsync(DbServer server, CancellationToken stop, TaskCompletionSource? firstRead = null, TimeSpan? every = null, TransactionListReads? reads = null) => Task.Run(async () =>
    {
        var last = Stopwatch.GetTimestamp();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await using var reader = await server.OpenAdminConnectionAsync();
                while (!stop.IsCancellationRequested)
                {
                    await reader.ScalarAsync("SELECT COUNT(*) FROM information_schema.INNODB_TRX");
                    firstRead?.TrySetResult();
                    reads?.Read(Stopwatch.GetElapsedTime(last));
                    last = Stopwatch.GetTimestamp();
                    await Task.Delay(every ?? TimeSpan.FromMilliseconds(20));
                }
            }
            catch (System.Data.Common.DbException e)
            {
                reads?.Failed(e);
            }
        }
    }, CancellationToken.None); // the loop ends on its own when stopped, so awaiting it does not throw

    /// <summary>Polls a condition that another process makes true; fails after <paramref name="within"/>.</summary>
    public static async Task EventuallyAsync(Func<bool> condition, TimeSpan within, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > within)
            {
                Assert.Fail($"Not within {within.TotalSeconds} s: {what}");
            }

            await Task.Delay(50);
        }
    }

    public static bool ProcessExists(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static bool IsRoot => Environment.IsPrivilegedProcess;
}

/// <summary>Tests that change process-wide environment variables run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EnvironmentCollection
{
    public const string Name = "Environment variables";
}

/// <summary>Sets environment variables for one test and restores them after.</summary>
internal sealed class EnvironmentScope : IDisposable
{
    private readonly Dictionary<string, string?> _old = new();

    public EnvironmentScope(params (string Name, string? Value)[] variables)
    {
        foreach (var (name, value) in variables)
        {
            _old[name] = Environment.GetEnvironmentVariable(name);
            Environment.SetEnvironmentVariable(name, value);
        }
    }

    public void Dispose()
    {
        foreach (var (name, value) in _old)
        {
            Environment.SetEnvironmentVariable(name, value);
        }
    }
}

/// <summary>How a transaction-list monitor read: how often, its longest gap, the last error that cost it its connection.</summary>
internal sealed class TransactionListReads
{
    private readonly object _gate = new();
    private int _reads;
    private TimeSpan _longest;
    private string? _error;

    public void Read(TimeSpan gap)
    {
        lock (_gate)
        {
            _reads++;
            _longest = gap > _longest ? gap : _longest;
        }
    }

    public void Failed(Exception e)
    {
        lock (_gate)
        {
            _error = e.Message;
        }
    }

    public override string ToString()
    {
        lock (_gate)
        {
            return $"the monitor read it {_reads} times, its longest gap {_longest.TotalMilliseconds:0} ms{(_error is null ? "" : $", it lost its connection ({_error})")}";
        }
    }
}
