using System.Data.Common;
using System.Reflection;

namespace TestDbKit.Sessions;

/// <summary>What both adapters' base classes share: how a test class becomes <see cref="SessionOptions"/>.</summary>
internal static class SessionFactory
{
    /// <summary>Options for a test of <paramref name="testClass"/>. Test classes that inherit the same
    /// <c>CreateSchemaAsync</c> share a schema, and so a template and a pool; a class marked
    /// <see cref="DedicatedServerAttribute"/> gets pools on a server of its own.</summary>
    public static SessionOptions For(Type testClass, string testName, DbEngine engine, IsolationMode isolation, Func<DbConnection, Task> createSchema, bool resetBefore)
    {
        var schemaOwner = testClass.GetMethod("CreateSchemaAsync", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic, [typeof(DbConnection)])?.DeclaringType ?? testClass;
        var scope = new PoolScope(schemaOwner, DedicatedServerAttribute.AppliesTo(testClass) ? testClass : null);
        return new SessionOptions(testName, engine, createSchema, scope, isolation, resetBefore, FailOnConnectionLeakAttribute.AppliesTo(testClass));
    }

    /// <summary>Writes a report of what a test left behind where a test run shows it.</summary>
    public static void Report(SessionReport report)
    {
        if (!report.IsClean)
        {
            Console.Error.WriteLine("[TestDbKit] " + report);
        }
    }
}
