using System.Data.Common;

namespace TestDbKit.Tests.Common;

/// <summary>
/// What each <see cref="IsolationMode"/> promises, checked from outside the test's own sessions: the one copy of the
/// adapters' <c>IsolationTests</c> (each adapter keeps its test method and its hook that runs after the base class
/// gave the database back).
/// </summary>
public static class IsolationChecks
{
    /// <summary>Checks, during the test, that <paramref name="database"/> is isolated as <paramref name="expected"/>
    /// says (writing on <paramref name="connection"/>, the test's own); returns the check to run after the test,
    /// once the database is given back (kept and emptied, or dropped).</summary>
    public static async Task<Func<Task>> DuringTheTestAsync(TestDatabase database, DbConnection connection, IsolationMode expected)
    {
        var mode = database.Isolation;
        Expect.That(mode == expected, $"the database's isolation is {mode}, expected {expected}");
        Expect.That(await CountAsync(connection) == 0, "the test's database is not empty at its start");
        var server = database.Server;
        var name = database.Name;
        switch (mode)
        {
            case IsolationMode.Transaction:
                // The test's connection writes inside a transaction the kit began: the test sees its row, a
                // session of its own does not, since it was never committed.
                await connection.ScalarAsync("INSERT INTO items (tag) VALUES ('uncommitted')");
                Expect.That(await CountAsync(connection) == 1, "the test does not see the row it wrote");
                Expect.That(await ServerSessions.ItemsAsync(server, name) == 0, "another session sees the test's uncommitted row");
                return async () =>
                {
                    Expect.That(await ServerSessions.DatabaseExistsAsync(server, name), $"{name} was dropped; Transaction keeps it for the next test");
                    Expect.That(await ServerSessions.ItemsAsync(server, name) == 0, $"{name} still holds a row after a Transaction test");
                };

            case IsolationMode.Reset:
                // A row committed on another connection: the database keeps it until the test ends.
                await using (var other = await database.OpenConnectionAsync())
                {
                    await other.ScalarAsync("INSERT INTO items (tag) VALUES ('committed')");
                }

                Expect.That(await ServerSessions.ItemsAsync(server, name) == 1, "the row committed on another connection is not in the database");
                return async () =>
                {
                    Expect.That(await ServerSessions.DatabaseExistsAsync(server, name), $"{name} was dropped; Reset keeps it for the next test");
                    // Emptied after the test, beside the next one, and before it can be leased again.
                    await Expect.EventuallyAsync(async () => await ServerSessions.ItemsAsync(server, name) == 0, TimeSpan.FromSeconds(30),
                        $"{name} was not emptied for the next test");
                };

            case IsolationMode.Clone:
                // A database of the test's own: the test may change its schema, and it is dropped afterwards.
                await connection.ScalarAsync("CREATE TABLE only_in_this_clone (id INT)");
                await connection.ScalarAsync("INSERT INTO items (tag) VALUES ('committed')");
                Expect.That(await ServerSessions.ItemsAsync(server, name) == 1, "the clone's committed row is not seen from outside");
                return () => ServerSessions.WaitDatabaseGoneAsync(server, name); // dropped after the test

            default:
                throw new InvalidOperationException($"no check for {mode}");
        }
    }

    private static async Task<long> CountAsync(DbConnection connection) =>
        Convert.ToInt64(await connection.ScalarAsync("SELECT COUNT(*) FROM items"));
}
