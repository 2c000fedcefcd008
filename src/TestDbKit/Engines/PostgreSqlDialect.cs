using System.Data.Common;
using Npgsql;

namespace TestDbKit.Engines;

internal sealed class PostgreSqlDialect : EngineDialect
{
    public static readonly PostgreSqlDialect Instance = new();

    public override DbEngine Engine => DbEngine.PostgreSql;

    public override string Name => "PostgreSQL";

    public override string Key => "postgres";

    public override string VersionSql => "SHOW server_version";

    public override DbConnection CreateConnection(string connectionString) => new NpgsqlConnection(connectionString);

    public override string BuildConnectionString(string host, int port, string user, string password, string? database, string applicationName) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = host,
            Port = port,
            Username = user,
            Password = password,
            Database = database ?? "postgres",
            ApplicationName = applicationName,
        }.ConnectionString;

    public override Endpoint Parse(string connectionString)
    {
        var b = Builder(connectionString);
        if (string.IsNullOrWhiteSpace(b.Host))
        {
            throw new ArgumentException("The PostgreSQL connection string names no Host.", nameof(connectionString));
        }

        return new Endpoint(b.Host, b.Port, b.Username ?? Environment.UserName, b.Database);
    }

    public override string? PasswordOf(string connectionString) => Builder(connectionString).Password;

    public override string ForProbe(string connectionString, TimeSpan connectTimeout)
    {
        var b = Builder(connectionString);
        b.Pooling = false;
        b.Timeout = Math.Max(1, (int)Math.Ceiling(connectTimeout.TotalSeconds));
        return b.ConnectionString;
    }

    public override string WithDatabase(string connectionString, string? database)
    {
        var b = Builder(connectionString);
        b.Database = database ?? "postgres";
        return b.ConnectionString;
    }

    public override void ClearAllPools() => NpgsqlConnection.ClearAllPools();

    public override string QuoteIdentifier(string name) => "\"" + Validated(name) + "\"";

    private NpgsqlConnectionStringBuilder Builder(string connectionString)
    {
        try
        {
            return new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException or KeyNotFoundException)
        {
            throw Malformed(e);
        }
    }
}
