using System.Reflection;

namespace TestDbKit.MSTest;

/// <summary>
/// Before the test (and after it, with <see cref="After"/>), closes every pooled connection of the kit's
/// drivers, so the test starts on a brand-new server session. Goes on a test method or a test class that
/// inherits <see cref="ResilientDbTestBase"/>: its <c>[TestInitialize]</c> resets before it opens the test's
/// connection, and its <c>[TestCleanup]</c> resets after the test.
/// </summary>
/// <remarks>MSTest has no hook an attribute can register to run around a test (nothing like NUnit's
/// <c>ITestAction</c> or xunit's <c>BeforeAfterTestAttribute</c>), so the base class reads the attribute; on a
/// class that does not inherit it the attribute does nothing.</remarks>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class ResetConnectionAttribute : Attribute
{
    /// <summary>Also close every pooled connection after the test.</summary>
    public bool After { get; set; }

    /// <summary>The attribute that applies to the test <paramref name="testName"/> of <paramref name="testClass"/>:
    /// the method's own, else the class's (or a base class's); null when there is none.</summary>
    internal static ResetConnectionAttribute? For(Type testClass, string testName) =>
        testClass.GetMethods(BindingFlags.Instance | BindingFlags.Public)
            .Where(m => m.Name == testName)
            .Select(m => m.GetCustomAttribute<ResetConnectionAttribute>(inherit: true))
            .FirstOrDefault(a => a is not null)
        ?? testClass.GetCustomAttribute<ResetConnectionAttribute>(inherit: true);
}
