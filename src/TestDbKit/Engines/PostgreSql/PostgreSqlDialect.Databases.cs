
namespace TestDbKit.Engines;

// PostgreSqlDialect, part: databases: DDL, change tracking, Respawn, preparing a server the kit started.
internal sealed partial class PostgreSqlDialect
{
    public override bool HasTemplateDatabases => true;

    public override string CreateDatabaseSql(string name, string? template) =>
        $"CREATE DATABASE {QuoteIdentifier(name)}" + (template is null ? "" : $" TEMPLATE {QuoteIdentifier(template)}");

    public override string DropDatabaseSql(string name) => $"DROP DATABASE IF EXISTS {QuoteIdentifier(name)} WITH (FORCE)";

    public override string ListDatabasesSql(string prefix) =>
        $"SELECT datname FROM pg_database WHERE starts_with(datname, '{Validated(prefix)}')";

    public override ChangeTracker Tracker => PostgreSqlTracker.Instance;

    public override Respawn.RespawnerOptions RespawnOptions(string database) => new()
    {
        DbAdapter = Respawn.DbAdapter.Postgres,
        SchemasToExclude = ["testdbkit"],
        WithReseed = true,
    };
}
