using System.Data.Common;

namespace TestDbKit.Sessions;

/// <summary>What an adapter knows about the test that is starting.</summary>
internal sealed record SessionOptions(
    string TestName,
    DbEngine Engine,
    Func<SchemaTarget, CancellationToken, Task> CreateSchema,
    object SchemaKey,
    IsolationMode Isolation,
    bool ResetConnectionBefore,
    bool FailOnLeak)
{
    /// <summary>The server the test's pool lives on (the shared one for the defaults).</summary>
    public DbServerOptions Server { get; init; } = new();

    /// <summary>The pool's options, without schema and isolation (those are above).</summary>
    public DatabasePoolOptions Pool { get; init; } = new();

    /// <summary>Shapes the connection string the test's database hands out, or null.</summary>
    public Action<DbConnectionStringBuilder>? ShapeConnectionString { get; init; }

    /// <summary>The test's output in its framework; null: standard error.</summary>
    public TestOutput? Output { get; init; }
}
