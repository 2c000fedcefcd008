using System.Data.Common;

namespace TestDbKit;

/// <summary>
/// The database a schema is being built in: the template on PostgreSQL (copied into every test database), each
/// new pooled database on MySQL (which has no template databases). Given to
/// <see cref="DatabasePoolOptions.BuildSchema"/> and to the adapters' <c>CreateSchemaAsync(SchemaTarget, CancellationToken)</c>,
/// so a schema can be built by something that opens its own connections from a string (EF Core's
/// <c>Database.MigrateAsync</c> or <c>EnsureCreatedAsync</c>), not only on an open connection.
/// </summary>
/// <remarks>Close what you open before the hook returns. On PostgreSQL the kit then ends every session still
/// connected to the template (EF Core's own pools may keep some) and clears the driver's pool of
/// <see cref="ConnectionString"/>, because PostgreSQL copies a template only while nobody is connected to it.
/// Connections opened from <see cref="ConnectionString"/> count as the kit's own (on PostgreSQL faults that end sessions spare
/// them; elsewhere a test's faults reach only its own database, never one being built).</remarks>
public sealed class SchemaTarget
{
    private readonly Func<string, CancellationToken, Task<DbConnection>> _open;

    internal SchemaTarget(string name, DbEngine engine, string connectionString, Func<string, CancellationToken, Task<DbConnection>> open)
    {
        Name = name;
        Engine = engine;
        ConnectionString = connectionString;
        _open = open;
    }

    /// <summary>The database's name.</summary>
    public string Name { get; }

    /// <summary>The engine of the server it is on.</summary>
    public DbEngine Engine { get; }

    /// <summary>A connection string to this database (with the password), unpooled, for the driver or an ORM to
    /// open connections of its own: <c>new ShopContext(Options(target.ConnectionString))</c>. Providers may add
    /// options of their own to it (Pomelo adds <c>AllowUserVariables</c> and <c>UseAffectedRows</c>).</summary>
    public string ConnectionString { get; }

    /// <summary>Opens a new connection to this database; the caller disposes it.</summary>
    /// <param name="ct">Cancels opening.</param>
    /// <returns>An open connection of the engine's driver (Npgsql or MySqlConnector).</returns>
    public Task<DbConnection> OpenConnectionAsync(CancellationToken ct = default) => _open(ConnectionString, ct);

    /// <summary>The database's name and engine (never the connection string, which holds a password).</summary>
    /// <returns>For example <c>tdk_t_… (PostgreSql)</c>.</returns>
    public override string ToString() => $"{Name} ({Engine})";
}
