using System.Data.Common;
using TestDbKit.Tests.Databases;

namespace TestDbKit.Tests.Faults;

/// <summary>
/// A kit-started server handed to the kit as an External connection string: faults there need
/// TESTDBKIT_ALLOW_CHAOS=1, and even then touch only the sessions of the kit's own databases, never a
/// session of another database nor the kit's admin and control sessions.
/// </summary>
[Collection(EnvironmentCollection.Name)]
public sealed class ExternalChaosTests
{
    private const string Chaos = "TESTDBKIT_ALLOW_CHAOS";

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Faults_on_an_external_server_need_consent_and_then_touch_only_the_kits_databases(DbEngine engine)
    {
        await using var real = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        await using var outsider = await ScratchDatabase.CreateAsync(engine, real); // a database that is not the kit's
        await using var bystander = await outsider.OpenAsync();
        await using var external = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.External, ConnectionString = real.AdminConnectionString });
        await using var pool = await DatabasePool.CreateAsync(external, new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
        await using (var db = await pool.LeaseAsync())
        {
            await db.ResetAsync(); // leaves the kit's control session idle in its pool, where a kill could reach it
            await using var mine = await db.OpenConnectionAsync();
            await mine.InsertItemAsync(engine, "before");

            using (new EnvironmentScope((Chaos, null)))
            {
                var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => db.Faults.KillAllSessionsAsync());
                Assert.Contains("External", refused.Message, StringComparison.Ordinal);
                Assert.Contains(Chaos + "=1", refused.Message, StringComparison.Ordinal);
                await Assert.ThrowsAsync<InvalidOperationException>(() => db.Faults.KillSessionAsync(mine));
                await Assert.ThrowsAsync<InvalidOperationException>(() => db.Faults.ExhaustConnectionsAsync());
                await Assert.ThrowsAsync<InvalidOperationException>(() => db.Faults.SetStatementTimeoutAsync(TimeSpan.FromSeconds(1)));
                Assert.Equal(1, Convert.ToInt32(await mine.ScalarAsync("SELECT 1")));
            }

            using (new EnvironmentScope((Chaos, "1")))
            {
                var untouchable = await OutsideSessionsAsync(real, engine, db.Name);
                Assert.Contains(await bystander.SessionIdAsync(engine), untouchable);
                await using var second = await db.OpenConnectionAsync();

                Assert.Equal(2, await db.Faults.KillAllSessionsAsync()); // mine and second, nothing else
                await Expect.ConnectionLostAsync(() => mine.ScalarAsync("SELECT 1"), "the test's own killed session");

                // Taking every connection locks out the server's other users: never on a server the kit does not run.
                var exhaust = await Assert.ThrowsAsync<InvalidOperationException>(() => db.Faults.ExhaustConnectionsAsync());
                Assert.Contains("other databases' too", exhaust.Message, StringComparison.Ordinal);

                var crash = await Assert.ThrowsAsync<InvalidOperationException>(() => db.Faults.CrashServerAsync());
                Assert.Contains("other databases' too", crash.Message, StringComparison.Ordinal);
                if (engine == DbEngine.MySql)
                {
                    // The server has the kit's hook, but the sessions log in as the administrator, whom init_connect
                    // passes over: refused even with consent, saying why, rather than a fault that does nothing.
                    var idle = await Assert.ThrowsAsync<NotSupportedException>(() => db.Faults.SetIdleTimeoutAsync(TimeSpan.FromSeconds(1)));
                    Assert.Contains("administrative rights", idle.Message, StringComparison.Ordinal);
                    await Assert.ThrowsAsync<NotSupportedException>(() => db.Faults.SetReadOnlyAsync());
                }
                else
                {
                    await using (await db.Faults.SetStatementTimeoutAsync(TimeSpan.FromMilliseconds(100)))
                    {
                        await using var timed = await db.OpenConnectionAsync();
                        var e = await Assert.ThrowsAnyAsync<DbException>(() => timed.ScalarAsync("SELECT pg_sleep(5)"));
                        Assert.Equal("57014", e.SqlState);
                        Assert.Equal(1, Convert.ToInt32(await bystander.ScalarAsync("SELECT 1 FROM pg_sleep(0.3)"))); // another database: not timed out
                    }
                }

                // Every session outside the kit's database, the kit's own control and admin sessions included, survived.
                var after = await OutsideSessionsAsync(real, engine, db.Name);
                Assert.Empty(untouchable.Except(after));
                Assert.Equal(1, Convert.ToInt32(await bystander.ScalarAsync("SELECT 1")));
            }
        }

        // The pool reset the database through its control session, and the next lease is clean.
        await using var next = await pool.LeaseAsync();
        await using var connection = await next.OpenConnectionAsync();
        Assert.Equal(0, await connection.CountAsync("items"));
        Assert.Equal(1, Convert.ToInt32(await real.ScalarAsync("SELECT 1")));
    }

    /// <summary>Sessions that are not client sessions of <paramref name="database"/>, or are the kit's control sessions there.</summary>
    private static async Task<HashSet<long>> OutsideSessionsAsync(DbServer server, DbEngine engine, string database)
    {
        var sql = engine == DbEngine.PostgreSql
            ? $"SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND (datname <> '{database}' OR application_name = 'testdbkit-control') AND pid <> pg_backend_pid()"
            : $"SELECT ID FROM information_schema.PROCESSLIST WHERE COALESCE(DB, '') <> '{database}' AND COMMAND <> 'Daemon' AND ID <> CONNECTION_ID()";
        await using var probe = server.CreateConnection(server.Dialect.ForProbe(server.AdminConnectionString, TimeSpan.FromSeconds(5)));
        await probe.OpenAsync();
        await using var command = probe.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        var ids = new HashSet<long>();
        while (await reader.ReadAsync())
        {
            ids.Add(Convert.ToInt64(reader.GetValue(0)));
        }

        return ids;
    }
}
