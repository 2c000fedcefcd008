using System.Data.Common;

namespace TestDbKit.Engines;

// EngineDialect, part: what the kit needs around a schema hook that opens connections of its own (SchemaTarget).
internal abstract partial class EngineDialect
{
    /// <summary>Lists every client session connected to <paramref name="database"/> except the one asking, the
    /// kit's control sessions included, as rows of (session id, application name); null where the engine copies no
    /// template databases (nothing must leave a database before it is copied).</summary>
    public virtual string? EveryoneOnDatabaseSql(string database) => null;

    /// <summary>Whether <paramref name="e"/> says a database could not be copied because sessions are connected to
    /// the source (PostgreSQL 55006).</summary>
    public virtual bool IsSourceDatabaseInUse(DbException e) => false;
}
