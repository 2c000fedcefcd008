using Xunit.Abstractions;
using System.Data;
using System.Data.Common;
using TestDbKit.Sessions;
using TestDbKit.Tests.Databases;

namespace TestDbKit.Tests.BadInput;

/// <summary>A test that breaks what the kit handed it: the next test still starts clean, and nothing is left.</summary>
public sealed class SessionMisuseTests(ITestOutputHelper output)
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_test_that_disposes_the_kits_connection_ends_quietly_and_the_next_test_starts_clean(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
        var session = await TestSession.StartAsync(Options(engine), pool, default);
        var connection = session.CurrentConnection();
        await connection.InsertItemAsync(engine, "written before the dispose");
        Assert.Equal(1, await connection.CountAsync("items")); // the premise: the test wrote through it
        await connection.DisposeAsync();
        Assert.Equal(ConnectionState.Closed, connection.State);

        var report = await session.EndAsync(default);
        output.WriteLine(report.ToString());
        Assert.Null(report.CleanupError);
        Assert.Contains("it closed or disposed the kit's Connection", report.ToString(), StringComparison.Ordinal); // not "broken or killed"

        var next = await TestSession.StartAsync(Options(engine), pool, default);
        Assert.Equal(session.Database.Name, next.Database.Name);
        Assert.Equal(ConnectionState.Open, next.CurrentConnection().State);
        Assert.Equal(0, await next.CurrentConnection().CountAsync("items"));
        Assert.True((await next.EndAsync(default)).IsClean);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_test_that_drops_its_own_database_gets_a_fresh_one_next_and_nothing_is_left(DbEngine engine)
    {
        var server = await DbServer.SharedAsync(engine);
        var names = new List<string>();
        await using (var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 }))
        {
            var session = await TestSession.StartAsync(Options(engine), pool, default);
            names.Add(session.Database.Name);
            await using (var admin = await server.OpenAdminConnectionAsync())
            {
                await admin.ExecuteAsync(server.Dialect.DropDatabaseSql(session.Database.Name));
                Assert.DoesNotContain(session.Database.Name, await DatabasesAsync(admin, server, session.Database.Name)); // the premise
            }

            var report = await session.EndAsync(default);

            output.WriteLine(report.ToString());
            Assert.Null(report.CleanupError);

            var next = await TestSession.StartAsync(Options(engine), pool, default);
            names.Add(next.Database.Name);
            Assert.NotEqual(names[0], names[1]);
            Assert.Equal(0, await next.CurrentConnection().CountAsync("items")); // a whole copy, schema and all
            Assert.True((await next.EndAsync(default)).IsClean);
        }

        await using var check = await server.OpenAdminConnectionAsync();
        foreach (var name in names)
        {
            Assert.DoesNotContain(name, await DatabasesAsync(check, server, name));
        }
    }

    private static async Task<List<string>> DatabasesAsync(DbConnection admin, DbServer server, string prefix)
    {
        await using var command = admin.CreateCommand();
        command.CommandText = server.Dialect.ListDatabasesSql(prefix);
        await using var reader = await command.ExecuteReaderAsync();
        var names = new List<string>();
        while (await reader.ReadAsync())
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }

    private static SessionOptions Options(DbEngine engine) =>
        new("BadInput.Misuse", engine, (_, _) => Task.CompletedTask, typeof(SessionMisuseTests), IsolationMode.Reset, false, false);
}
