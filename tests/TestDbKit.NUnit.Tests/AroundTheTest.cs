using NUnit.Framework.Interfaces;

namespace TestDbKit.NUnit.Tests;

/// <summary>A fixture's hooks around each whole test: before every [SetUp] (the base class's too) and after
/// every [TearDown], where the base class has started and ended the test's database session.</summary>
public interface IAroundTheTest
{
    Task BeforeSetUpAsync();

    Task AfterTearDownAsync();
}

/// <summary>Calls <see cref="IAroundTheTest"/> on the fixture. An action on the fixture that targets tests runs
/// outside the tests' [SetUp] and [TearDown]; its failure fails the test. NUnit's actions are synchronous, so
/// it waits for the hooks (on the thread pool: no synchronization context to block).</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class AroundTheTestAttribute : NUnitAttribute, ITestAction
{
    public ActionTargets Targets => ActionTargets.Test;

    public void BeforeTest(ITest test)
    {
        if (test.Fixture is IAroundTheTest hooks)
        {
            Task.Run(hooks.BeforeSetUpAsync).GetAwaiter().GetResult();
        }
    }

    public void AfterTest(ITest test)
    {
        if (test.Fixture is IAroundTheTest hooks)
        {
            Task.Run(hooks.AfterTearDownAsync).GetAwaiter().GetResult();
        }
    }
}
