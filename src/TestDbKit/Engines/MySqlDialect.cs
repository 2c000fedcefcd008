using System.Data.Common;
using MySqlConnector;

namespace TestDbKit.Engines;

internal sealed class MySqlDialect : EngineDialect
{
    public static readonly MySqlDialect Instance = new();

    public override DbEngine Engine => DbEngine.MySql;

    public override string Name => "MySQL";

    public override string Key => "mysql";

    public override string VersionSql => "SELECT VERSION()";

    public override DbConnection CreateConnection(string connectionString) => new MySqlConnection(connectionString);

    public override string BuildConnectionString(string host, int port, string user, string password, string? database, string applicationName) =>
        new MySqlConnectionStringBuilder
        {
            Server = host,
            Port = checked((uint)port),
            UserID = user,
            Password = password,
            Database = database ?? "",
            ApplicationName = applicationName,
        }.ConnectionString;

    public override Endpoint Parse(string connectionString)
    {
        var b = Builder(connectionString);
        if (string.IsNullOrWhiteSpace(b.Server))
        {
            throw new ArgumentException("The MySQL connection string names no Server.", nameof(connectionString));
        }

        return new Endpoint(b.Server, (int)b.Port, string.IsNullOrEmpty(b.UserID) ? Environment.UserName : b.UserID,
            string.IsNullOrEmpty(b.Database) ? null : b.Database);
    }

    public override string? PasswordOf(string connectionString) => Builder(connectionString).Password;

    public override string ForProbe(string connectionString, TimeSpan connectTimeout)
    {
        var b = Builder(connectionString);
        b.Pooling = false;
        b.ConnectionTimeout = (uint)Math.Max(1, (int)Math.Ceiling(connectTimeout.TotalSeconds));
        return b.ConnectionString;
    }

    public override string WithDatabase(string connectionString, string? database)
    {
        var b = Builder(connectionString);
        b.Database = database ?? "";
        return b.ConnectionString;
    }

    public override void ClearAllPools() => MySqlConnection.ClearAllPools();

    public override string QuoteIdentifier(string name) => "`" + Validated(name) + "`";

    /// <summary>SQL run at every start of a local server (its init file): gives root on 127.0.0.1 the
    /// generated password. Works on MariaDB and on MySQL 8.</summary>
    public static string AdminBootstrapSql(string password)
    {
        var literal = "'" + password.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "''", StringComparison.Ordinal) + "'";
        return $"""
            CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY {literal};
            ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY {literal};
            GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
            """;
    }

    private MySqlConnectionStringBuilder Builder(string connectionString)
    {
        try
        {
            return new MySqlConnectionStringBuilder(connectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException or KeyNotFoundException or OverflowException)
        {
            throw Malformed(e);
        }
    }
}
