using MySqlConnector;

namespace TestDbKit.Engines;

// MySqlDialect, part: databases: DDL, change tracking, Respawn, preparing a server the kit started.
internal sealed partial class MySqlDialect
{
    /// <summary>MariaDB's live lock list (<see cref="MySqlModule.PrepareOwnedServerAsync"/>).</summary>
    public override Task PrepareOwnedServerAsync(string adminConnectionString, CancellationToken ct) =>
        MySqlModule.Instance.PrepareOwnedServerAsync(adminConnectionString, ct);

    public override bool HasTemplateDatabases => false;

    public override string CreateDatabaseSql(string name, string? template) =>
        template is null ? $"CREATE DATABASE {QuoteIdentifier(name)}" : throw new NotSupportedException("MySQL has no template databases.");

    public override string DropDatabaseSql(string name) => $"DROP DATABASE IF EXISTS {QuoteIdentifier(name)}";

    public override string ListDatabasesSql(string prefix) =>
        $"SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, {prefix.Length}) = '{Validated(prefix)}'";

    public override ChangeTracker Tracker => MySqlTracker.Instance;

    public override Respawn.RespawnerOptions RespawnOptions(string database) => new()
    {
        DbAdapter = Respawn.DbAdapter.MySql,
        SchemasToInclude = [database],
        TablesToIgnore = ["testdbkit_dirty", "testdbkit_autoinc"],
        WithReseed = true,
    };
}
