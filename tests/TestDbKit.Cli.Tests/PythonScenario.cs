using System.Diagnostics;
using System.Text.Encodings.Web;
using System.Text.Json;
using TestDbKit.Tests.Common;

namespace TestDbKit.Cli.Tests;

/// <summary>
/// Runs one scenario of tests/python/scenarios.py with Debian's interpreter (<see cref="Interpreter"/>): the script
/// drives the tool built beside this project (<c>dotnet TestDbKit.Cli.dll</c>) as a Python project would, and prints
/// what it observed as one JSON object on its last stdout line. The script asserts nothing; the test does, with
/// <see cref="Expect"/>, whose failure message carries the whole observation and the script's stderr.
/// </summary>
internal sealed class PythonScenario
{
    /// <summary>Debian's interpreter: the one python3-sqlalchemy, python3-pymysql and python3-psycopg2 install into
    /// (a pyenv or virtualenv python3 earlier on PATH does not see them).</summary>
    public const string Interpreter = "/usr/bin/python3";

    /// <summary>The exit code scenarios.py gives when a module is missing (its message names the Debian package).</summary>
    private const int MissingModule = 3;

    private readonly string _stdout;
    private readonly string _stderr;

    private PythonScenario(JsonElement result, string stdout, string stderr)
    {
        Result = result;
        _stdout = stdout;
        _stderr = stderr;
    }

    /// <summary>The JSON object the script printed last.</summary>
    public JsonElement Result { get; }

    /// <summary>Runs <paramref name="scenario"/> on <paramref name="engine"/> (a registry key: postgres or mysql) to its
    /// end; <paramref name="interpreterArgs"/> go before the script (e.g. <c>-S</c>, which hides Debian's packages).</summary>
    /// <exception cref="PythonScriptException">The interpreter is missing, the script failed (the message has its
    /// traceback) or printed no JSON.</exception>
    public static async Task<PythonScenario> RunAsync(string scenario, string engine, params string[] interpreterArgs)
    {
        if (!File.Exists(Interpreter))
        {
            throw new PythonScriptException($"{Interpreter} does not exist: the Python client tests need Debian's python3 with " +
                "python3-sqlalchemy, python3-pymysql and python3-psycopg2. Run scripts/install-servers.sh (it installs them), " +
                "or apt-get install -y python3-sqlalchemy python3-pymysql python3-psycopg2.");
        }

        var psi = new ProcessStartInfo(Interpreter) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in interpreterArgs.Concat([Script, scenario, "--engine", engine, "--", "dotnet", CliDll]))
        {
            psi.ArgumentList.Add(arg);
        }

        psi.Environment["PYTHONDONTWRITEBYTECODE"] = "1"; // no __pycache__ in the source tree
        psi.Environment["PYTHONUNBUFFERED"] = "1";
        var (code, stdout, stderr) = await ChildProcess.RunAsync(psi, TimeSpan.FromSeconds(180));
        var command = $"{Interpreter} {string.Join(' ', interpreterArgs.Append("tests/python/scenarios.py"))} {scenario} --engine {engine} -- dotnet {CliDll}";
        if (code == MissingModule)
        {
            throw new PythonScriptException($"`{command}` could not run: a Python module is missing.\n{stderr}");
        }

        var last = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        if (code != 0 || last is null || !last.StartsWith('{'))
        {
            throw new PythonScriptException($"`{command}` exited with {code} without its result line.\nstderr (the Python traceback):\n{stderr}\nstdout:\n{stdout}");
        }

        using var document = JsonDocument.Parse(last);
        return new PythonScenario(document.RootElement.Clone(), stdout, stderr);
    }

    /// <summary>The value at a dotted path of <see cref="Result"/> (e.g. <c>premise.timeout</c>), or an undefined
    /// element when a step is missing.</summary>
    public JsonElement At(string path)
    {
        var element = Result;
        foreach (var step in path.Split('.'))
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(step, out element))
            {
                return default;
            }
        }

        return element;
    }

    /// <summary>The text at <paramref name="path"/>: a string as is, a number or boolean as JSON; null when absent or null.</summary>
    public string? Text(string path) => At(path) switch
    {
        { ValueKind: JsonValueKind.String } s => s.GetString(),
        { ValueKind: JsonValueKind.Undefined or JsonValueKind.Null } => null,
        var other => other.GetRawText(),
    };

    /// <summary>The number at <paramref name="path"/>, or null.</summary>
    public double? Number(string path) => At(path) is { ValueKind: JsonValueKind.Number } n ? n.GetDouble() : null;

    /// <summary>Fails the test with <paramref name="what"/> and the whole observation when <paramref name="condition"/> is false.</summary>
    public void Expect(bool condition, string what) => Assert.True(condition, $"{what}\n{this}");

    /// <summary>The observation (indented) and the script's stderr: what a failure message shows.</summary>
    public override string ToString() =>
        "The Python script observed:\n" + JsonSerializer.Serialize(Result, Indented)
        + (string.IsNullOrWhiteSpace(_stderr) ? "" : "\nits stderr:\n" + _stderr)
        + (_stdout.Count(c => c == '\n') > 1 ? "\nits stdout:\n" + _stdout : "");

    /// <summary>Indented, and '+' or '\'' left as they are: the observation is read by a person.</summary>
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>tests/python/scenarios.py, found from the repository root (the folder holding TestDbKit.sln above this
    /// test's output), so the scripts run from the source tree and nothing is copied into the build output.</summary>
    private static string Script
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "TestDbKit.sln")))
                {
                    return Path.Combine(dir.FullName, "tests", "python", "scenarios.py");
                }
            }

            throw new PythonScriptException($"no TestDbKit.sln above {AppContext.BaseDirectory}: the Python scripts are found from the repository root.");
        }
    }

    /// <summary>The tool built beside this test project, as <see cref="CliProcess"/> runs it.</summary>
    private static string CliDll => ChildProcess.BuiltBeside("../../src/TestDbKit.Cli", "TestDbKit.Cli.dll");
}

/// <summary>A Python scenario could not run or report: the message says why and what to do.</summary>
internal sealed class PythonScriptException(string message) : Exception(message);
