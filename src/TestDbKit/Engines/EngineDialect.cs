using System.Data.Common;
using System.Globalization;

namespace TestDbKit.Engines;

/// <summary>Where a connection string points, without its secret.</summary>
internal readonly record struct Endpoint(string Host, int Port, string User, string? Database)
{
    public override string ToString() => $"{Host}:{Port} as '{User}'" + (Database is null ? "" : $", database '{Database}'");
}

/// <summary>
/// Everything that differs between engines in how the kit talks to a server: drivers, connection strings, SQL
/// and error codes. No other part of the kit writes engine-specific SQL. One class in parts, one file each:
/// this one (identity, driver, connection strings, quoting), <c>.Errors</c>, <c>.Databases</c> (DDL, change
/// tracking, Respawn), <c>.Sessions</c> (session administration and fault SQL) and <c>.Pools</c>; each engine's
/// dialect is split the same way in its folder. The rest of an engine (binaries, container, tuning, flavour)
/// is its <see cref="EngineModule"/>.
/// </summary>
internal abstract partial class EngineDialect
{
    public static EngineDialect For(DbEngine engine) => EngineRegistry.For(engine);

    public abstract DbEngine Engine { get; }

    /// <summary>Human name for messages.</summary>
    public abstract string Name { get; }

    /// <summary>Short lower-case name for folders, variables and CLI arguments.</summary>
    public abstract string Key { get; }

    public abstract DbConnection CreateConnection(string connectionString);

    /// <summary>Builds a connection string to a server on <paramref name="host"/>.</summary>
    public abstract string BuildConnectionString(string host, int port, string user, string password, string? database, string applicationName);

    /// <summary>Parses a connection string; throws <see cref="ArgumentException"/> (without the password) when it is malformed.</summary>
    public abstract Endpoint Parse(string connectionString);

    /// <summary>The password in a connection string, to keep it out of messages.</summary>
    public abstract string? PasswordOf(string connectionString);

    /// <summary>The driver's own builder holding <paramref name="connectionString"/> (its keywords, aliases and
    /// value types); throws <see cref="ArgumentException"/> (without the password) when the string is malformed.</summary>
    public abstract DbConnectionStringBuilder CreateBuilder(string connectionString);

    /// <summary>The server a connection string reaches, as "host:port" (the loopback names made one: "localhost",
    /// 127.0.0.1 and ::1 reach the same server here), to tell which server a fault of the process's timeline hit;
    /// null when the string cannot be parsed.</summary>
    public string? EndpointOf(string connectionString)
    {
        try
        {
            var endpoint = Parse(connectionString);
            var name = endpoint.Host.Trim().Trim('[', ']').ToLowerInvariant();
            var loopback = name is "localhost" or "::1" || name.StartsWith("127.", StringComparison.Ordinal);
            return string.Create(CultureInfo.InvariantCulture, $"{(loopback ? "loopback" : name)}:{endpoint.Port}");
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>Whether <paramref name="connection"/> is this engine's driver's.</summary>
    public abstract bool Owns(DbConnection connection);

    /// <summary>The password, or null when the connection string cannot even be parsed.</summary>
    public string? PasswordOfOrNull(string connectionString)
    {
        try
        {
            return PasswordOf(connectionString);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The same connection string without pooling and with a short connect timeout, for probes and
    /// set-up scripts.</summary>
    public abstract string ForProbe(string connectionString, TimeSpan connectTimeout);

    /// <summary>The same connection string aimed at another host and port (a proxy).</summary>
    public abstract string WithEndpoint(string connectionString, string host, int port);

    /// <summary>The same connection string logging in as another user.</summary>
    public abstract string WithUser(string connectionString, string user, string password);

    /// <summary>The same connection string aimed at another database.</summary>
    public abstract string WithDatabase(string connectionString, string? database);

    /// <summary>The same connection string with another application name (how the kit tags sessions).</summary>
    public abstract string WithApplicationName(string connectionString, string applicationName);

    /// <summary>
    /// Where the kit's control session for <paramref name="database"/> connects: tagged
    /// <c>testdbkit-control</c> so faults never hit it. MySQL connects to no database at all (its reset
    /// procedure runs in its own database), so killing a database's sessions cannot reach it.
    /// </summary>
    public virtual string ControlConnectionString(string adminConnectionString, string database) =>
        ForControl(WithApplicationName(WithDatabase(adminConnectionString, database), ControlApplicationName));

    /// <summary>The application name of the kit's control sessions.</summary>
    public const string ControlApplicationName = "testdbkit-control";

    /// <summary>The kit's own control sessions leave no state behind, so the driver need not reset them
    /// when they come back from the pool (a reset costs a round trip, and PostgreSQL's DISCARD ALL also
    /// throws away the reset routine's cached plans).</summary>
    public abstract string ForControl(string connectionString);

    /// <summary>What a connection string needs so commands join the connection's open transaction
    /// without the caller setting <see cref="DbCommand.Transaction"/> (MySqlConnector checks it).</summary>
    public virtual string ForAmbientTransaction(string connectionString) => connectionString;

    /// <summary>Quotes an identifier after checking it is one the kit would generate or accept.</summary>
    public abstract string QuoteIdentifier(string name);

    /// <summary>Whether a setting name can be passed to the server safely.</summary>
    public static bool IsValidSettingName(string name) =>
        name.Length is > 0 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-');

    /// <summary>Whether a setting value can be passed on a command line safely.</summary>
    public static bool IsValidSettingValue(string value) =>
        value.Length <= 1024 && !value.Any(c => char.IsControl(c));

    internal static string Validated(string name)
    {
        if (name.Length is 0 or > 63 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '$'))
        {
            throw new ArgumentException(
                $"'{name}' is not an identifier the kit accepts: use 1 to 63 ASCII letters, digits, '_', '-' or '$'.",
                nameof(name));
        }

        return name;
    }

    protected ArgumentException Malformed(Exception inner) => new(
        $"The {Name} connection string is malformed ({inner.GetType().Name}). " +
        "Check its keywords and separators (key=value pairs separated by ';'); the password is not shown.",
        inner);
}
