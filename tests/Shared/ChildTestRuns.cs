using System.Xml.Linq;

namespace TestDbKit.Tests.Common;

/// <summary>One test's result in a child run, as its TRX file records it; <see cref="Name"/> is the full name.</summary>
public sealed record ChildTestResult(string Name, string Outcome, string Message);

/// <summary>
/// Runs some tests of a test assembly in a child <c>dotnet test</c>, as a user's test run would run them, and reads
/// their results from the TRX file the child writes: for behaviour whose point is that a test fails. Each adapter's
/// test project marks the tests that run only there and says which of the TRX's output it wants.
/// </summary>
public static class ChildTestRuns
{
    /// <summary>Set to 1 in the child: tests that run only in a child run are skipped without it.</summary>
    public const string Variable = "TESTDBKIT_ADAPTER_CHILD_RUN";

    /// <summary>The TRX file's XML namespace.</summary>
    public static readonly XNamespace Trx = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010";

    /// <summary>True in a child run started by <see cref="RunAsync"/>.</summary>
    public static bool InChildRun => Environment.GetEnvironmentVariable(Variable) == "1";

    /// <summary>Runs the tests <paramref name="filter"/> picks in <paramref name="assembly"/>; returns their results and
    /// everything the run printed: its exit code, its output and what <paramref name="printed"/> picks from the TRX.
    /// The child runs without <c>TESTDBKIT_REPORT_DIR</c> unless <paramref name="environment"/> sets it.</summary>
    public static async Task<(IReadOnlyList<ChildTestResult> Results, string Output)> RunAsync(
        string assembly, string filter, TimeSpan within, Func<XDocument, IEnumerable<XElement>> printed,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var dir = Directory.CreateTempSubdirectory("tdk-child-run-");
        try
        {
            var psi = ChildProcess.Dotnet("test", assembly, "--filter", filter, "--logger", "trx;LogFileName=child.trx", "--results-directory", dir.FullName);
            psi.Environment[Variable] = "1";
            psi.Environment.Remove("TESTDBKIT_REPORT_DIR");
            foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            {
                psi.Environment[name] = value;
            }
            var (code, stdout, stderr) = await ChildProcess.RunAsync(psi, within);
            var output = $"exit code {code}\n{stdout}\n{stderr}";
            var trx = Path.Combine(dir.FullName, "child.trx");
            if (!File.Exists(trx))
            {
                throw new InvalidOperationException($"the child test run wrote no {trx}:\n{output}");
            }

            var document = XDocument.Load(trx);
            output += "\n" + string.Join("\n", printed(document).Select(e => e.Value));
            // A result names its method only (NUnit); its test definition names the class (with fixture arguments).
            var classes = document.Descendants(Trx + "UnitTest").ToDictionary(
                t => (string?)t.Attribute("id") ?? "",
                t => (string?)t.Element(Trx + "TestMethod")?.Attribute("className") ?? "");
            var results = document.Descendants(Trx + "UnitTestResult")
                .Select(r =>
                {
                    var name = (string?)r.Attribute("testName") ?? "";
                    var className = classes.GetValueOrDefault((string?)r.Attribute("testId") ?? "", "");
                    return new ChildTestResult(
                        name.StartsWith(className, StringComparison.Ordinal) ? name : $"{className}.{name}",
                        (string?)r.Attribute("outcome") ?? "",
                        (string?)r.Descendants(Trx + "Message").FirstOrDefault() ?? "");
                })
                .ToList();
            return (results, output);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
