using System.Data.Common;
using TestDbKit.Engines;

namespace TestDbKit.Tests.Databases;

/// <summary>What the pool tests share: the tracking variants, pools on the shared servers, and checks.</summary>
internal static class PoolSetup
{
    /// <summary>The tracking variants: PostgreSQL's statement triggers, MariaDB's row counters (what the kit's own
    /// servers use), and MariaDB's row triggers (MySQL, or MariaDB without <c>userstat</c>).</summary>
    public static TheoryData<DbEngine, bool> TrackedSetups => new() { { DbEngine.PostgreSql, false }, { DbEngine.MySql, false }, { DbEngine.MySql, true } };

    public static Task<DatabasePool> CreatePoolAsync(DbEngine engine, Func<DbConnection, Task> schema, int maxDatabases) =>
        CreatePoolAsync(engine, triggers: false, schema, maxDatabases);

    public static async Task<DatabasePool> CreatePoolAsync(DbEngine engine, bool triggers, Func<DbConnection, Task> schema, int maxDatabases)
    {
        var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = maxDatabases, TrackWithTriggers = triggers });
        // The shared MariaDB server counts rows (userstat), so its pools track without triggers unless told to.
        Assert.Equal(engine == DbEngine.MySql && !triggers ? ChangeMarks.RowCounters : ChangeMarks.Triggers, pool.Marks);
        return pool;
    }

    public static bool DatabaseExists(DbConnection admin, DbEngine engine, string name)
    {
        using var command = admin.CreateCommand();
        command.CommandText = engine == DbEngine.PostgreSql
            ? $"SELECT COUNT(*) FROM pg_database WHERE datname = '{name}'"
            : $"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'";
        return Convert.ToInt64(command.ExecuteScalar()) > 0;
    }

    /// <summary>Runs <paramref name="action"/>, which must fail because the server ended its session: a database
    /// error (or the transport's own) that the kit classifies as a lost connection. A disposed object, a wrong
    /// call or a plain timeout do not pass. Classified without recording, so the run report is not touched.
    /// Not the shared <see cref="Expect.ConnectionLostAsync"/> on purpose: that one goes through the public
    /// <see cref="DbErrors.IsConnectionLost"/>, which records the error in the run report (tests here measure that
    /// report), and tests/Shared cannot use the internal classification (TestDbKit.Cli.Tests links it too and does
    /// not see the kit's internals).</summary>
    public static async Task<Exception> SessionEndedAsync(Func<Task> action, string what)
    {
        var error = await Record.ExceptionAsync(action);
        Assert.True(error is not null, $"{what}: no error, but its session was to be ended");
        Assert.True(error is DbException or System.Net.Sockets.SocketException or EndOfStreamException or IOException,
            $"{what}: not a database or transport error: {error}");
        Assert.True((DbErrors.Classify(error) & ErrorKind.ConnectionLost) != 0, $"{what}: not classified as a lost connection: {error}");
        return error;
    }
}

/// <summary>A Local PostgreSQL server of the test's own, reached as External through a role without superuser
/// (<c>tdk_plain</c>, allowed to create databases): the path of a shared server whose account is no superuser.</summary>
internal sealed class PlainPostgreSql : IAsyncDisposable
{
    private PlainPostgreSql(DbServer real, DbServer plain)
    {
        Real = real;
        Plain = plain;
    }

    /// <summary>The server the kit started, reached as its administrator.</summary>
    public DbServer Real { get; }

    /// <summary>The same server as External, through <c>tdk_plain</c>.</summary>
    public DbServer Plain { get; }

    public static async Task<PlainPostgreSql> StartAsync()
    {
        var real = await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.Local });
        try
        {
            var password = Guid.NewGuid().ToString("N");
            await using (var admin = await real.OpenAdminConnectionAsync())
            {
                await admin.ExecuteAsync($"CREATE ROLE tdk_plain LOGIN CREATEDB PASSWORD '{password}'");
            }

            var plain = await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions
            {
                Provider = DbServerProvider.External,
                ConnectionString = real.Dialect.WithUser(real.AdminConnectionString, "tdk_plain", password),
            });
            return new PlainPostgreSql(real, plain);
        }
        catch
        {
            await real.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Plain.DisposeAsync();
        await Real.DisposeAsync();
    }
}
