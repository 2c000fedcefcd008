
namespace TestDbKit.Engines;

// EngineDialect, part: databases: DDL, change tracking, Respawn, preparing a server the kit started.
internal abstract partial class EngineDialect
{
    /// <summary>Whether databases can be copied from a template database (PostgreSQL) rather than built
    /// by replaying the schema (MySQL).</summary>
    public abstract bool HasTemplateDatabases { get; }

    public abstract string CreateDatabaseSql(string name, string? template);

    /// <summary>Drops a database even while sessions are connected to it.</summary>
    public abstract string DropDatabaseSql(string name);

    /// <summary>Lists databases whose names start with <paramref name="prefix"/> (letters, digits and '_').</summary>
    public abstract string ListDatabasesSql(string prefix);

    public abstract ChangeTracker Tracker { get; }

    /// <summary>Respawn's adapter and the scope it clears, for databases where tracking cannot be installed.</summary>
    public abstract Respawn.RespawnerOptions RespawnOptions(string database);

    /// <summary>What a server the kit started gets once, before any test uses it (kept across restarts). Opens
    /// a connection only where there is something to do.</summary>
    public virtual Task PrepareOwnedServerAsync(string adminConnectionString, CancellationToken ct) => Task.CompletedTask;
}
