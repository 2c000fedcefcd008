using System.Collections.Concurrent;
using System.Data.Common;

namespace TestDbKit.Engines;

/// <summary>Which server answers, where one engine has several (MySQL's: MariaDB or MySQL 8).</summary>
internal enum ServerKind
{
    PostgreSql,
    MariaDb,
    MySql,
}

/// <summary>
/// What a server is and what it can do, asked of the server itself once per server (see
/// <see cref="EngineModule.FlavourOfAsync"/>). Code asks for a capability here, never for a version string.
/// </summary>
/// <param name="Kind">Which server answers.</param>
/// <param name="HasRowCounters">The server can count the rows each table had changed (MariaDB's <c>userstat</c>), so a
/// tracker needs no trigger while counting is on.</param>
/// <param name="ListsLocksLive">The server lists, live, which sessions hold a table (MariaDB's
/// <c>metadata_lock_info</c> plugin, which the kit installs on its own servers).</param>
/// <param name="StatementTimeoutCoversAll">The server's statement timeout stops any statement (PostgreSQL's
/// <c>statement_timeout</c>, MariaDB's <c>max_statement_time</c>), not only SELECTs (MySQL's <c>max_execution_time</c>).</param>
internal sealed record ServerFlavour(ServerKind Kind, bool HasRowCounters, bool ListsLocksLive, bool StatementTimeoutCoversAll)
{
    public static readonly ServerFlavour PostgreSql = new(
        ServerKind.PostgreSql, HasRowCounters: false, ListsLocksLive: true, StatementTimeoutCoversAll: true);

    /// <summary>Human name for messages.</summary>
    public string Name => Kind switch
    {
        ServerKind.PostgreSql => "PostgreSQL",
        ServerKind.MariaDb => "MariaDB",
        _ => "MySQL",
    };

    public override string ToString() => Name;
}

/// <summary>Flavours already asked of their servers, by the server's address (host and port).</summary>
internal sealed class FlavourCache
{
    private readonly ConcurrentDictionary<string, Task<ServerFlavour>> _known = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The flavour of the server at <paramref name="key"/>, detected once with <paramref name="detect"/>.
    /// A detection that failed is forgotten, so the next call asks again.</summary>
    public async Task<ServerFlavour> GetAsync(string key, Func<Task<ServerFlavour>> detect)
    {
        var task = _known.GetOrAdd(key, _ => detect());
        try
        {
            return await task.ConfigureAwait(false);
        }
        catch
        {
            _known.TryRemove(new KeyValuePair<string, Task<ServerFlavour>>(key, task));
            throw;
        }
    }

    /// <summary>Replaces what is known about the server at <paramref name="key"/> (a new server on a reused port,
    /// or one the kit just changed).</summary>
    public void Set(string key, ServerFlavour flavour) => _known[key] = Task.FromResult(flavour);

    /// <summary>The key of the server behind an open connection.</summary>
    public static string KeyOf(EngineDialect dialect, DbConnection connection)
    {
        var endpoint = dialect.Parse(connection.ConnectionString);
        return $"{endpoint.Host}:{endpoint.Port}";
    }
}
