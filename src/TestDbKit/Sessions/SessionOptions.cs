using System.Data.Common;

namespace TestDbKit.Sessions;

/// <summary>What an adapter knows about the test that is starting.</summary>
internal sealed record SessionOptions(
    string TestName,
    DbEngine Engine,
    Func<DbConnection, Task> CreateSchema,
    object SchemaKey,
    IsolationMode Isolation,
    bool ResetConnectionBefore,
    bool FailOnLeak);
