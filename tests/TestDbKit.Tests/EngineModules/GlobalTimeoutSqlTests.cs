using TestDbKit.Engines;

namespace TestDbKit.Tests.EngineModules;

/// <summary>The dialect writes the server-wide timeout statements, both ways (FaultInjector runs them on a MySQL server
/// of the test's own): the set changes what the server applies, the undo puts back what it had.</summary>
public sealed class GlobalTimeoutSqlTests
{
    [Fact]
    public async Task MySql_idle_and_statement_timeouts_are_set_and_undone_by_the_dialects_statements()
    {
        await using var server = await DbServer.StartAsync(DbEngine.MySql, new DbServerOptions { Provider = DbServerProvider.Local });
        await using var admin = await server.OpenAdminConnectionAsync();
        var dialect = server.Dialect;
        var before = await ReadAsync(admin, "wait_timeout", "interactive_timeout");

        var idle = (await dialect.GlobalTimeoutSqlAsync(admin, TimeoutKind.Idle, TimeSpan.FromSeconds(3), CancellationToken.None))!.Value;
        await admin.ExecuteAsync(idle.Set);
        Assert.Equal(["3", "3"], await ReadAsync(admin, "wait_timeout", "interactive_timeout"));
        await admin.ExecuteAsync(idle.Undo);
        Assert.Equal(before, await ReadAsync(admin, "wait_timeout", "interactive_timeout"));

        // The variable is the flavour's: MariaDB's max_statement_time (seconds), MySQL 8's max_execution_time (ms).
        var flavour = await MySqlModule.Instance.FlavourOfAsync(admin, CancellationToken.None);
        var (variable, expected) = flavour.Kind == ServerKind.MariaDb ? ("max_statement_time", "0.25") : ("max_execution_time", "250");
        var statementBefore = await ReadAsync(admin, variable);
        var statement = (await dialect.GlobalTimeoutSqlAsync(admin, TimeoutKind.Statement, TimeSpan.FromMilliseconds(250), CancellationToken.None))!.Value;
        await admin.ExecuteAsync(statement.Set);
        Assert.Equal(expected, decimal.Parse((await ReadAsync(admin, variable))[0], System.Globalization.CultureInfo.InvariantCulture).ToString("0.##", System.Globalization.CultureInfo.InvariantCulture));
        await admin.ExecuteAsync(statement.Undo);
        Assert.Equal(statementBefore, await ReadAsync(admin, variable));

        // MariaDB has an idle-in-transaction timeout (whole seconds); MySQL 8 has none.
        var idleInTransaction = await dialect.GlobalTimeoutSqlAsync(admin, TimeoutKind.IdleInTransaction, TimeSpan.FromSeconds(2), CancellationToken.None);
        if (flavour.Kind == ServerKind.MariaDb)
        {
            var trxBefore = await ReadAsync(admin, "idle_transaction_timeout");
            await admin.ExecuteAsync(idleInTransaction!.Value.Set);
            Assert.Equal(["2"], await ReadAsync(admin, "idle_transaction_timeout"));
            await admin.ExecuteAsync(idleInTransaction.Value.Undo);
            Assert.Equal(trxBefore, await ReadAsync(admin, "idle_transaction_timeout"));
        }
        else
        {
            Assert.Null(idleInTransaction);
        }
    }

    [Fact]
    public async Task PostgreSql_has_no_server_wide_timeout_statements()
    {
        var server = await DbServer.SharedAsync(DbEngine.PostgreSql);
        await using var admin = await server.OpenAdminConnectionAsync();
        foreach (var kind in Enum.GetValues<TimeoutKind>())
        {
            Assert.Null(await server.Dialect.GlobalTimeoutSqlAsync(admin, kind, TimeSpan.FromSeconds(1), CancellationToken.None));
        }
    }

    private static async Task<string[]> ReadAsync(System.Data.Common.DbConnection admin, params string[] names)
    {
        var values = new List<string>();
        foreach (var name in names)
        {
            values.Add(Convert.ToString(await admin.ScalarAsync($"SELECT @@GLOBAL.{name}"), System.Globalization.CultureInfo.InvariantCulture)!);
        }

        return [.. values];
    }
}
