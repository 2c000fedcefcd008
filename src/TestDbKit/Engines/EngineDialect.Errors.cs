using System.Data.Common;

namespace TestDbKit.Engines;

// EngineDialect, part: errors: what a driver exception means.
internal abstract partial class EngineDialect
{
    /// <summary>What this driver's exception <paramref name="e"/> means; <see cref="ErrorKind.None"/> when
    /// it is not this driver's (the caller walks inner exceptions).</summary>
    public abstract ErrorKind Classify(Exception e);

    /// <summary>Whether an error says the database named in the statement does not exist (dropped meanwhile).</summary>
    public abstract bool IsMissingDatabase(DbException e);

    /// <summary>Whether an error says the server refuses new connections because all are in use.</summary>
    public abstract bool IsTooManyConnections(Exception e);
}
