using System.Diagnostics;
using System.Xml.Linq;
using NUnit.Framework.Interfaces;
using NUnit.Framework.Internal;

namespace TestDbKit.NUnit.Tests;

/// <summary>One test's result in a child run, as its TRX file records it; <see cref="Name"/> is the full name.</summary>
internal sealed record ChildTestResult(string Name, string Outcome, string Message);

/// <summary>
/// Runs some tests of this very assembly in a child <c>dotnet test</c>, as a user's test run would run them,
/// and reads their results from the TRX file the child writes: for behaviour whose point is that a test fails.
/// </summary>
internal static class ChildTestRun
{
    /// <summary>Set to 1 in the child: fixtures marked <see cref="ChildRunOnlyAttribute"/> run only there.</summary>
    public const string Variable = "TESTDBKIT_ADAPTER_CHILD_RUN";

    /// <summary>Runs the tests <paramref name="filter"/> picks in <paramref name="assembly"/> (this one when
    /// null); returns their results and everything the run printed.</summary>
    public static async Task<(IReadOnlyList<ChildTestResult> Results, string Output)> RunAsync(string filter, TimeSpan within, string? assembly = null)
    {
        var dir = Directory.CreateTempSubdirectory("tdk-child-run-");
        try
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
            foreach (var arg in new[] { "test", assembly ?? typeof(ChildTestRun).Assembly.Location, "--filter", filter, "--logger", "trx;LogFileName=child.trx", "--results-directory", dir.FullName })
            {
                psi.ArgumentList.Add(arg);
            }

            psi.Environment[Variable] = "1";
            psi.Environment.Remove("TESTDBKIT_REPORT_DIR");
            using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet test");
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using (var timeout = new CancellationTokenSource(within))
            {
                try
                {
                    await process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                    throw new TimeoutException($"the child test run ({filter}) did not finish within {within}; it was killed:\n{await stdout}\n{await stderr}");
                }
            }

            var output = $"exit code {process.ExitCode}\n{await stdout}\n{await stderr}";
            var trx = Path.Combine(dir.FullName, "child.trx");
            if (!File.Exists(trx))
            {
                throw new InvalidOperationException($"the child test run wrote no {trx}:\n{output}");
            }

            XNamespace ns = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010";
            var document = XDocument.Load(trx);
            output += "\n" + string.Join("\n", document.Descendants(ns + "StdOut").Concat(document.Descendants(ns + "StdErr")).Select(e => e.Value));
            // A result names its method only (NUnit); its test definition names the class (with fixture arguments).
            var classes = document.Descendants(ns + "UnitTest").ToDictionary(
                t => (string?)t.Attribute("id") ?? "",
                t => (string?)t.Element(ns + "TestMethod")?.Attribute("className") ?? "");
            var results = document.Descendants(ns + "UnitTestResult")
                .Select(r =>
                {
                    var name = (string?)r.Attribute("testName") ?? "";
                    var className = classes.GetValueOrDefault((string?)r.Attribute("testId") ?? "", "");
                    return new ChildTestResult(
                        name.StartsWith(className, StringComparison.Ordinal) ? name : $"{className}.{name}",
                        (string?)r.Attribute("outcome") ?? "",
                        (string?)r.Descendants(ns + "Message").FirstOrDefault() ?? "");
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

/// <summary>The probe assembly built beside this one: tests/TestDbKit.NUnit.Tests/bin/CONFIG/net10.0/ maps to
/// tests/TestDbKit.NUnit.Tests/AssemblyLeakProbe/bin/CONFIG/net10.0/.</summary>
internal static class Probes
{
    public static string AssemblyLeakProbe
    {
        get
        {
            var baseDir = AppContext.BaseDirectory;
            var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(baseDir)).Parent!.Name;
            return Path.GetFullPath(Path.Combine(baseDir, "../../..", "AssemblyLeakProbe/bin", configuration, "net10.0/TestDbKit.NUnit.AssemblyLeakProbe.dll"));
        }
    }
}

/// <summary>A fixture that runs only in a child run started by <see cref="ChildTestRun"/> (its point is to
/// fail there); in the normal run it is ignored.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ChildRunOnlyAttribute : NUnitAttribute, IApplyToTest
{
    public void ApplyToTest(global::NUnit.Framework.Internal.Test test)
    {
        if (Environment.GetEnvironmentVariable(ChildTestRun.Variable) != "1" && test.RunState != RunState.NotRunnable)
        {
            test.RunState = RunState.Ignored;
            test.Properties.Set(PropertyNames.SkipReason, "runs in a child test process started by another test of this project");
        }
    }
}
