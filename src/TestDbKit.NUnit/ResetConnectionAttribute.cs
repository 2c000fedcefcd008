using NUnit.Framework;
using NUnit.Framework.Interfaces;
using NUnit.Framework.Internal;
using TestDbKit.Sessions;

namespace TestDbKit.NUnit;

/// <summary>
/// Before the test (and after it, with <see cref="After"/>), closes every pooled connection of the kit's
/// drivers, so the test starts on a brand-new server session. Goes on a test method or a fixture, and works
/// on tests that do not inherit <see cref="ResilientDbTestBase"/> too.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class ResetConnectionAttribute : NUnitAttribute, ITestAction, IApplyToTest
{
    /// <summary>The test property that tells <see cref="ResilientDbTestBase"/> to reset before it opens the connection.</summary>
    internal const string Property = "TestDbKit.ResetConnection";

    /// <summary>Also close every pooled connection after the test.</summary>
    public bool After { get; set; }

    /// <inheritdoc />
    public ActionTargets Targets => ActionTargets.Test;

    /// <inheritdoc />
    public void ApplyToTest(global::NUnit.Framework.Internal.Test test)
    {
        ArgumentNullException.ThrowIfNull(test);
        test.Properties.Set(Property, true);
    }

    /// <inheritdoc />
    public void BeforeTest(ITest test)
    {
        // The base class resets in its [SetUp], before it opens the connection; a method-level action runs
        // after [SetUp], and resetting again would only make the test reopen its connection.
        if (test?.Fixture is not ResilientDbTestBase)
        {
            ConnectionReset.ClearAllPools();
        }
    }

    /// <inheritdoc />
    public void AfterTest(ITest test)
    {
        if (After)
        {
            ConnectionReset.ClearAllPools();
        }
    }
}
