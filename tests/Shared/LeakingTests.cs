using System.Data.Common;

namespace TestDbKit.Tests.Common;

/// <summary>The bodies of the adapters' leak probes (tests that leak a connection on purpose, run in a child test
/// run): the one copy; each adapter keeps its own test attributes and fixtures.</summary>
public static class LeakingTests
{
    // Kept reachable, so that nothing but the kit closes them.
    private static readonly List<DbConnection> Leaked = [];

    /// <summary>Opens a connection through the kit, uses it, and keeps it open.</summary>
    public static async Task LeakAConnectionTheKitHandedOutAsync(TestDatabase database)
    {
        var connection = await database.OpenConnectionAsync();
        await connection.ScalarAsync("SELECT 1");
        Keep(connection);
    }

    /// <summary>Opens a connection of its own on the test's database, uses it, and keeps it open.</summary>
    public static async Task LeakAConnectionItOpenedItselfAsync(TestDatabase database)
    {
        var connection = database.Server.CreateConnection(database.ConnectionString);
        await connection.OpenAsync();
        await connection.ScalarAsync("SELECT 1");
        Keep(connection);
    }

    /// <summary>Opens one connection of each kind and disposes both: leaks nothing.</summary>
    public static async Task DisposeWhatItOpensAsync(TestDatabase database)
    {
        await using var connection = await database.OpenConnectionAsync();
        await connection.ScalarAsync("SELECT 1");
        await using var own = database.Server.CreateConnection(database.ConnectionString);
        await own.OpenAsync();
        await own.ScalarAsync("SELECT 1");
    }

    private static void Keep(DbConnection connection)
    {
        lock (Leaked)
        {
            Leaked.Add(connection);
        }
    }
}
