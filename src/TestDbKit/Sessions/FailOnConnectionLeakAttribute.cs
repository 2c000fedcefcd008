namespace TestDbKit;

/// <summary>
/// Turns the report of a test that left connections open into a failure of that test. Put it on a test
/// class, or on the assembly (<c>[assembly: FailOnConnectionLeak]</c>) for every test of it.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Assembly, Inherited = true)]
public sealed class FailOnConnectionLeakAttribute : Attribute
{
    internal static bool AppliesTo(Type testClass) =>
        IsDefined(testClass, typeof(FailOnConnectionLeakAttribute), inherit: true)
        || IsDefined(testClass.Assembly, typeof(FailOnConnectionLeakAttribute));
}
