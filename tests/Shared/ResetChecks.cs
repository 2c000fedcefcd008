using System.Data.Common;

namespace TestDbKit.Tests.Common;

/// <summary>
/// What a [ResetConnection] test on the base class needs, in any framework: made before the base class starts
/// the test's session (each adapter runs <see cref="BeforeTheTestAsync"/> in its own hook before that), an idle
/// session in a pool of the test's own, proven to be handed back, and the list of every session on the server.
/// A reset closes that pooled session too (it closes every pool of the process), so the test reads it again to
/// see whether a reset ran before it.
/// </summary>
public sealed class ResetChecks(DbEngine engine, DbServer server, string probeConnectionString, long pooled, HashSet<long> before)
{
    /// <summary>The run's shared server of the engine.</summary>
    public DbServer Server { get; } = server;

    /// <summary>Leaves an idle session in a pool named after <paramref name="probeName"/> and lists the server's sessions.</summary>
    public static async Task<ResetChecks> BeforeTheTestAsync(DbEngine engine, string probeName)
    {
        var server = await DbServer.SharedAsync(engine);
        // A pool of its own: Npgsql and MySqlConnector both take "Application Name" (this file is also built where the core's internals are not visible).
        var cs = new DbConnectionStringBuilder { ConnectionString = server.AdminConnectionString, ["Application Name"] = probeName }.ConnectionString;
        var pooled = await ProbeAsync(server, cs, engine);
        Expect.That(await ProbeAsync(server, cs, engine) == pooled, "the pool should hand its idle session back");
        return new ResetChecks(engine, server, cs, pooled, await ServerSessions.ListAsync(server));
    }

    /// <summary>Fails unless a reset closed every pool after <see cref="BeforeTheTestAsync"/>, and the test runs on
    /// a session (<paramref name="connection"/>'s) that was not on the server then.</summary>
    public async Task AssertRunsOnANewSessionAsync(DbConnection connection)
    {
        Expect.That(await ProbeAsync(Server, probeConnectionString, engine) != pooled, "no reset closed the pools before the test");
        var session = await connection.SessionIdAsync(engine);
        Expect.That(!before.Contains(session), $"session {session} was on the server before the test");
        Expect.That(Convert.ToInt32(await connection.ScalarAsync("SELECT 1")) == 1, "the test's connection does not answer SELECT 1");
    }

    /// <summary>Fails if a reset closed the pools before the test.</summary>
    public async Task AssertNoResetRanAsync() =>
        Expect.That(await ProbeAsync(Server, probeConnectionString, engine) == pooled, "a reset closed the pools before the test");

    /// <summary>After the test: <paramref name="session"/> is gone from the server (a reset after the test closed it)
    /// or, when <paramref name="gone"/> is false, still on it, idle in its pool.</summary>
    public async Task AfterTheTestAsync(long session, bool gone)
    {
        if (gone)
        {
            await ServerSessions.WaitGoneAsync(Server, session);
        }
        else
        {
            Expect.That((await ServerSessions.ListAsync(Server)).Contains(session), $"session {session} should still be on the server, idle in its pool");
        }
    }

    private static async Task<long> ProbeAsync(DbServer server, string connectionString, DbEngine engine)
    {
        await using var connection = server.CreateConnection(connectionString);
        await connection.OpenAsync();
        return await connection.SessionIdAsync(engine);
    }
}
