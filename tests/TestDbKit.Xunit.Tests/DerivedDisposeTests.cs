using TestDbKit.Tests.Common;
using TestDbKit.Xunit;

namespace TestDbKit.Xunit.Tests
{
    /// <summary>
    /// A derived class's <c>Dispose</c> runs after the base class gave the test's database back, on both xunit majors
    /// (xunit v3 disposes a class that is both IAsyncDisposable and IDisposable only asynchronously, so the v3 base
    /// calls <c>Dispose</c> itself). Other tests here (isolation, reset after) check their premises in
    /// <c>Dispose</c>, so without this they could pass without checking anything. The probe's <c>Dispose</c> throws,
    /// saying what state the test's connection was in, so it runs in a child run where its failure is the result.
    /// </summary>
    public sealed class DerivedDisposeTests
    {
        [Fact]
        public async Task A_derived_Dispose_runs_after_the_database_was_given_back()
        {
            var (results, output) = await ChildTestRun.RunAsync("FullyQualifiedName~TestDbKit.Xunit.Tests.DisposeProbes.", TimeSpan.FromMinutes(3));
            var result = Assert.Single(results);
            Assert.True(result.Outcome == "Failed", $"the probe's Dispose throws, so it should fail, was {result.Outcome}\nchild run:\n{output}");
            Assert.Contains("Dispose ran after the test; its connection was Closed", result.Message, StringComparison.Ordinal);
        }
    }
}

namespace TestDbKit.Xunit.Tests.DisposeProbes
{
    /// <summary>Runs only in the child run of <see cref="DerivedDisposeTests"/>.</summary>
    public sealed class DisposeProbe() : ResilientDbTestBase(DbEngine.PostgreSql), IDisposable
    {
        private bool _ran;

        [ChildRunFact]
        public async Task Uses_its_connection() => _ran = await Connection.ScalarAsync("SELECT 1") is not null;

        public void Dispose() =>
            throw new InvalidOperationException($"Dispose ran after the test; its connection was {(_ran ? Connection.State.ToString() : "unused")}");
    }
}
