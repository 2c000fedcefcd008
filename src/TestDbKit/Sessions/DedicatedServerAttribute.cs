namespace TestDbKit;

/// <summary>
/// Gives a test class a database server of its own instead of the run-wide shared one: the kit starts it
/// (Local or Docker, as for the shared server) when the class's first test starts, one per test class and
/// engine, and it stops with the test run. Faults that reach the whole server (crash, restart, freeze,
/// connection exhaustion, MySQL's global <c>wait_timeout</c>, statement timeout and read-only) then work from
/// <c>Faults</c> without hurting tests on the shared server. A server start costs about half a second, so
/// put the server-wide fault tests of an engine in one class. The tests of that class still share the
/// server with each other: do not run them in parallel with a server-wide fault.
/// </summary>
/// <example>
/// <code>
/// [DedicatedServer]
/// public sealed class FailoverTests : ResilientDbTestBase
/// {
///     [Fact] public async Task Survives_a_restart() { await Faults.RestartServerAsync(); ... }
/// }
/// </code>
/// </example>
[AttributeUsage(AttributeTargets.Class, Inherited = true)]
public sealed class DedicatedServerAttribute : Attribute
{
    internal static bool AppliesTo(Type testClass) => IsDefined(testClass, typeof(DedicatedServerAttribute), inherit: true);
}
