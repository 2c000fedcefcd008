using System.Data.Common;
using Npgsql;

namespace TestDbKit.Engines;

internal sealed partial class PostgreSqlDialect : EngineDialect
{
    public static readonly PostgreSqlDialect Instance = new();

    public override DbEngine Engine => DbEngine.PostgreSql;

    public override string Name => "PostgreSQL";

    public override string Key => "postgres";

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
            // The kit's servers listen on loopback without TLS. Asking for it anyway costs a round trip on
            // every connect, and against a frozen server Npgsql's cancel request waits out that question.
            SslMode = SslMode.Disable,
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

    public override DbConnectionStringBuilder CreateBuilder(string connectionString) => Builder(connectionString);

    /// <inheritdoc />
    public override bool Owns(DbConnection connection) => connection is NpgsqlConnection;

    public override string ForProbe(string connectionString, TimeSpan connectTimeout)
    {
        var b = Builder(connectionString);
        b.Pooling = false;
        b.Timeout = Math.Max(1, (int)Math.Ceiling(connectTimeout.TotalSeconds));
        return b.ConnectionString;
    }

    public override string WithEndpoint(string connectionString, string host, int port)
    {
        var b = Builder(connectionString);
        b.Host = host;
        b.Port = port;
        return b.ConnectionString;
    }

    public override string WithUser(string connectionString, string user, string password)
    {
        var b = Builder(connectionString);
        b.Username = user;
        b.Password = password;
        return b.ConnectionString;
    }

    public override string WithDatabase(string connectionString, string? database)
    {
        var b = Builder(connectionString);
        b.Database = database ?? "postgres";
        return b.ConnectionString;
    }

    public override string WithApplicationName(string connectionString, string applicationName)
    {
        var b = Builder(connectionString);
        b.ApplicationName = applicationName;
        return b.ConnectionString;
    }

    public override string ForControl(string connectionString)
    {
        var b = Builder(connectionString);
        b.NoResetOnClose = true;
        return b.ConnectionString;
    }

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
