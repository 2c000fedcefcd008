namespace TestDbKit.Sessions;

/// <summary>A test the kit hands a database to: its full name and engine, and whether it has ended.</summary>
internal sealed class TestIdentity(string name, DbEngine engine)
{
    private volatile bool _ended;

    public string Name { get; } = name;

    public DbEngine Engine { get; } = engine;

    /// <summary>Whether the test's session has ended: work it left running (a task it never awaited) is no longer its.</summary>
    public bool Ended => _ended;

    public void End() => _ended = true;
}

/// <summary>
/// The test whose code is running, so that faults, client errors and recoveries recorded from its body (often by the
/// user's own code: <c>DbErrors.Classify</c> in a catch block) name it in the run report, even with tests in parallel.
/// An <see cref="AsyncLocal{T}"/>: it reaches the test body, its awaits, <c>Task.Run</c> and threads it starts, but only
/// when set in a frame that is not an <c>async</c> method (one restores the caller's values as it returns); so
/// <see cref="TestSession.Begin"/>, a plain method, sets it, and each adapter's setup calls that in its own synchronous
/// part. Nothing reaches work queued without the execution context (driver threads, the kit's background resets):
/// that work names no test.
/// </summary>
internal static class CurrentTest
{
    private static readonly AsyncLocal<TestIdentity?> Slot = new();

    /// <summary>The running test, or null outside a test of the base classes or after its session ended.</summary>
    public static TestIdentity? Value => Slot.Value is { Ended: false } test ? test : null;

    /// <summary>Makes a test current for this flow and what it starts. Call it from a method that is not async.</summary>
    public static TestIdentity Enter(string name, DbEngine engine) => Slot.Value = new TestIdentity(name, engine);
}
