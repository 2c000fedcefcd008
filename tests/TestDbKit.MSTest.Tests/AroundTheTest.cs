namespace TestDbKit.MSTest.Tests;

/// <summary>A test class's hooks around each whole test: before the base class's [TestInitialize] and after
/// its [TestCleanup], where the base class has started and ended the test's database session.</summary>
public interface IAroundTheTest
{
    Task BeforeSetUpAsync();

    Task AfterTearDownAsync();
}

/// <summary>
/// Calls <see cref="IAroundTheTest"/> on a test's instance. MSTest makes an instance per test and runs its
/// constructor before any [TestInitialize] (the base class's first), so the constructor is the hook before:
/// <see cref="Register"/> runs <see cref="IAroundTheTest.BeforeSetUpAsync"/> there (constructors are synchronous,
/// so it waits, on the thread pool: no synchronization context to block). The assembly's global test cleanup
/// runs after every [TestCleanup] (the base class's last) but gets only the test's <see cref="TestContext"/>, so
/// the instance leaves itself in the context's properties for it. A failure in either fails the test.
/// </summary>
[TestClass]
public static class AroundTheTest
{
    private const string Key = "TestDbKit.MSTest.Tests.AroundTheTest";

    /// <summary>Call from the constructor, with the context MSTest passes to it.</summary>
    public static void Register(TestContext context, IAroundTheTest hooks)
    {
        context.Properties[Key] = hooks;
        Task.Run(hooks.BeforeSetUpAsync).GetAwaiter().GetResult();
    }

    [GlobalTestCleanup]
    public static Task AfterAsync(TestContext context) =>
        context.Properties.TryGetValue(Key, out var hooks) && hooks is IAroundTheTest around ? around.AfterTearDownAsync() : Task.CompletedTask;
}
