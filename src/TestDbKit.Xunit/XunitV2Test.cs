#if !XUNIT_V3
using System.Reflection;
using TestDbKit.Sessions;
using Xunit.Abstractions;

namespace TestDbKit.Xunit;

/// <summary>
/// Which test an xunit v2 test class was made for. xunit v2 has no public way to ask: the one thing of the test a
/// class receives is the <see cref="ITestOutputHelper"/>, whose implementation (xunit.execution's
/// <c>TestOutputHelper</c>) keeps the <see cref="ITest"/> in a private field. The kit reads it when it is there and
/// falls back on the class name when it is not (another runner's helper, a later xunit v2 that renames the field).
/// </summary>
internal static class XunitV2Test
{
    /// <summary>The test's full name (<c>Namespace.Class.Method(arguments)</c>), or null when the helper does not say.</summary>
    public static string? NameOf(ITestOutputHelper output, Type testClass)
    {
        var field = output.GetType().GetField("test", BindingFlags.Instance | BindingFlags.NonPublic);
        if (field?.GetValue(output) is not ITest test)
        {
            return null;
        }

        return TestNames.Full(testClass.FullName ?? testClass.Name, test.TestCase?.TestMethod?.Method?.Name, test.DisplayName);
    }
}
#endif
