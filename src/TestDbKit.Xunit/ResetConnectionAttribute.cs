using System.ComponentModel;
using System.Reflection;
using TestDbKit.Sessions;
#if XUNIT_V3
using Xunit.v3;
#else
using Xunit.Sdk;
#endif

namespace TestDbKit.Xunit;

/// <summary>
/// Before the test (and after it, with <see cref="After"/>), closes every pooled connection of the kit's
/// drivers, so the test starts on a brand-new server session. Goes on a test method or a test class, and
/// works on tests that do not inherit <see cref="ResilientDbTestBase"/> too.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class ResetConnectionAttribute : ResetConnectionHook
{
    /// <summary>Also close every pooled connection after the test.</summary>
    public new bool After { get; set; }

    /// <inheritdoc />
    private protected override bool ResetAfter => After;
}

/// <summary>
/// xunit's hooks for <see cref="ResetConnectionAttribute"/> (its <c>After</c> property hides xunit's
/// <c>After</c> method, so the overrides live here). They only clear pools, which needs no waiting, so
/// nothing blocks on async work inside xunit's synchronous hooks.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public abstract class ResetConnectionHook : BeforeAfterTestAttribute
{
    private protected ResetConnectionHook()
    {
    }

    private protected abstract bool ResetAfter { get; }

#if XUNIT_V3
    /// <inheritdoc />
    public override void Before(MethodInfo methodUnderTest, IXunitTest test) => ConnectionReset.ClearAllPools();

    /// <inheritdoc />
    public override void After(MethodInfo methodUnderTest, IXunitTest test)
#else
    /// <inheritdoc />
    public override void Before(MethodInfo methodUnderTest) => ConnectionReset.ClearAllPools();

    /// <inheritdoc />
    public override void After(MethodInfo methodUnderTest)
#endif
    {
        if (ResetAfter)
        {
            ConnectionReset.ClearAllPools();
        }
    }
}
