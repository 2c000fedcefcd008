using System.Data.Common;
using MySqlConnector;
using Npgsql;

namespace TestDbKit.Tests.Common;

/// <summary>
/// The one copy of the adapters' "configured from code" checks: a driver option added through
/// <see cref="TestDbOptions.ConnectionString"/> reaches <c>Database.ConnectionString</c>, a connection from
/// <c>Database.OpenConnectionAsync</c>, and the base class's <c>Connection</c>, each proven on the server or in the
/// driver's behaviour, not only in the text. PostgreSQL: Npgsql's <c>Timezone</c> sets the session's time zone,
/// read back with <c>SHOW TimeZone</c>. MySQL: MySqlConnector's <c>AllowUserVariables</c> (which EF's Pomelo
/// provider needs) lets a command use <c>@variables</c>; without it the driver refuses them.
/// </summary>
public static class ConfiguredConnections
{
    /// <summary>A zone no server here runs in by default, so seeing it proves the option arrived.</summary>
    public const string Zone = "Pacific/Chatham";

    /// <summary>Adds this engine's driver option, as a test class's <c>Configure</c> would.</summary>
    public static void AddDriverOption(TestDbOptions options)
    {
        options.ConnectionString += options.Engine == DbEngine.PostgreSql
            ? c => c["Timezone"] = Zone
            : c => c["AllowUserVariables"] = true;
    }

    /// <summary>Proves the option is in the connection string, on a connection the test opens and on the base
    /// class's connection; first proves that the kit's own string (without the option) behaves otherwise.</summary>
    public static async Task ExpectDriverOptionAsync(TestDatabase database, DbConnection connection)
    {
        // The premise: a connection to the same database without the option does not show it.
        await using (var plain = database.Server.CreateConnection(database.Server.ConnectionStringFor(database.Name)))
        {
            await plain.OpenAsync();
            Expect.That(!await ShowsOptionAsync(plain, database.Engine), $"a connection without the option already shows it on {database.Engine}: the test proves nothing");
        }

        var inString = database.Engine == DbEngine.PostgreSql
            ? new NpgsqlConnectionStringBuilder(database.ConnectionString).Timezone == Zone
            : new MySqlConnectionStringBuilder(database.ConnectionString).AllowUserVariables;
        Expect.That(inString, "Database.ConnectionString lacks the option the class added");

        await using (var opened = await database.OpenConnectionAsync())
        {
            Expect.That(await ShowsOptionAsync(opened, database.Engine), "a connection from Database.OpenConnectionAsync lacks the option");
        }

        Expect.That(await ShowsOptionAsync(connection, database.Engine), "the base class's Connection lacks the option");
    }

    private static async Task<bool> ShowsOptionAsync(DbConnection connection, DbEngine engine)
    {
        if (engine == DbEngine.PostgreSql)
        {
            return Convert.ToString(await connection.ScalarAsync("SHOW TimeZone"), System.Globalization.CultureInfo.InvariantCulture) == Zone;
        }

        try
        {
            return Convert.ToInt32(await connection.ScalarAsync("SET @tdk_n := 41; SELECT @tdk_n + 1"), System.Globalization.CultureInfo.InvariantCulture) == 42;
        }
        catch (MySqlException e) when (e.Message.Contains("@tdk_n", StringComparison.Ordinal))
        {
            return false; // "Parameter '@tdk_n' must be defined": the driver refuses user variables
        }
    }
}
