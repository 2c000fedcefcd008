namespace Suite;

/// <summary>The runner's floor: one test without a database, for what the runner's start, discovery, JIT and exit
/// take alone (the loop bench's first row; the whole suite's floor). It marks the first body for the loop bench but
/// stays out of the whole suite's trace (it runs beside the suite's tests, often first).</summary>
public sealed class Floor
{
    [Fact]
    public void Runner_only() => SuiteEnv.Mark();
}
