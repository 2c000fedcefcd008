namespace TestDbKit.Engines;

/// <summary>Which sessions of a database a kill reaches.</summary>
internal enum SessionFilter
{
    /// <summary>Every client session except the kit's own.</summary>
    All,

    /// <summary>Connected but neither running a statement nor inside a transaction: in an application,
    /// the sessions resting in the driver's pool.</summary>
    Idle,

    /// <summary>Running a statement, or holding a transaction open.</summary>
    Busy,
}
