using System.Xml.Linq;
using TestDbKit.Tests.Common;

namespace TestDbKit.Cli.Tests;

/// <summary>A <c>TESTDBKIT_REPORT_DIR</c> that cannot be made (its parent is a regular file: that stops root too,
/// where a read-only folder would not) does not fail the run: the tests pass, and the test host says once, while the
/// tests run, which folder it tried, what went wrong and what to do. The exit handler cannot be counted on to say it:
/// the testhost gets 1 ms to stop, as in <see cref="ReportTests"/>.</summary>
public sealed class ReportDirUnwritableTests
{
    [Fact]
    public async Task An_unwritable_report_folder_is_said_once_and_fails_nothing()
    {
        var parent = Path.GetTempFileName(); // a regular file
        var dir = Path.Combine(parent, "reports");
        try
        {
            var (results, output) = await ChildTestRuns.RunAsync(
                typeof(ReportWorkload).Assembly.Location,
                $"FullyQualifiedName~{nameof(ReportWorkload)}",
                TimeSpan.FromMinutes(4),
                d => d.Descendants(ChildTestRuns.Trx + "ResultSummary").Descendants(ChildTestRuns.Trx + "StdOut"),
                new Dictionary<string, string>
                {
                    ["TESTDBKIT_REPORT_DIR"] = dir,
                    ["TESTDBKIT_REPORT_NAME"] = "unwritable",
                    ["VSTEST_TESTHOST_SHUTDOWN_TIMEOUT"] = "1",
                });

            Assert.True(output.StartsWith("exit code 0\n", StringComparison.Ordinal), output);
            Assert.Equal(2, results.Count);
            Assert.All(results, r => Assert.True(r.Outcome == "Passed", $"{r.Name} was {r.Outcome}: {r.Message}\n{output}"));
            Assert.False(Directory.Exists(dir));

            // The TRX's run summary keeps what the test host wrote outside a test, in order (the child's console, at
            // its default verbosity, shows none of it).
            var summary = output.Split('\n');
            var said = summary.Select((l, i) => (Line: l, At: i)).Where(l => l.Line.Contains("run report", StringComparison.Ordinal)).ToList();
            var (line, at) = Assert.Single(said);
            Assert.Contains(Path.Combine(dir, "unwritable.txt"), line, StringComparison.Ordinal); // what it tried
            Assert.Contains($"TESTDBKIT_REPORT_DIR='{dir}'", line, StringComparison.Ordinal);
            Assert.Contains($"({parent} is a file, not a folder)", line, StringComparison.Ordinal); // what went wrong
            Assert.Contains("Point TESTDBKIT_REPORT_DIR at a folder this user can create and write, or unset it", line, StringComparison.Ordinal); // what to do

            // Said while the tests ran, not left to an exit handler the runner may cut short.
            var finished = Array.FindIndex(summary, l => l.Contains("Finished:", StringComparison.Ordinal));
            Assert.True(finished >= 0 && at < finished, $"the message should come before the tests finished:\n{output}");
        }
        finally
        {
            File.Delete(parent);
        }
    }
}
