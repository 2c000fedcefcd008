using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace TestDbKit.FaultMatrix;

/// <summary>A Python client's row (SQLAlchemy over psycopg2 or PyMySQL), from tests/python/fault_matrix.py.</summary>
internal sealed record PythonRow(string Fault, DbEngine Engine, string ClientLabel, string EngineLabel, string Cells, double Seconds, string Client) : IMatrixRow
{
    public string Timing() => string.Create(CultureInfo.InvariantCulture, $"{Fault} | {Engine} | {ClientLabel} | the Python run took {Seconds:0.0} s for every fault on this engine");
}

/// <summary>
/// Runs tests/python/fault_matrix.py with Debian's interpreter against the tool built beside this project, checks
/// each row's premise (the fault really happened), and turns the rows into the table's cells.
/// </summary>
internal static partial class PythonMatrix
{
    public const string Interpreter = "/usr/bin/python3";
    public const string Client = "SQLAlchemy";

    /// <summary>The Django rows' client key (tests/python/fault_matrix.py --django).</summary>
    public const string Django = "Django";

    /// <summary>The faults the script reports through Django, each once.</summary>
    private static readonly string[] DjangoFaults =
    [
        "kill session", "kill idle pooled sessions", "idle timeout", "idle in transaction timeout", "statement timeout",
        "read-only (failover to a replica)",
    ];

    /// <summary>The faults the script must report, each once.</summary>
    private static readonly string[] Faults =
    [
        "kill session", "kill idle pooled sessions", "idle timeout", "idle in transaction timeout", "statement timeout",
        "read-only (failover to a replica)",
    ];

    public static async Task<IReadOnlyList<PythonRow>> RunAsync(DbEngine engine)
    {
        Assert.True(File.Exists(Interpreter), $"{Interpreter} does not exist: the Python rows of the fault matrix need Debian's python3 " +
            "with python3-sqlalchemy, python3-pymysql and python3-psycopg2 (scripts/install-servers.sh installs them).");
        var script = Path.Combine(MatrixDocument.RepositoryRoot(), "tests", "python", "fault_matrix.py");
        var cli = ChildProcess.BuiltBeside("../../src/TestDbKit.Cli", "TestDbKit.Cli.dll");
        var key = engine == DbEngine.PostgreSql ? "postgres" : "mysql";
        var psi = new ProcessStartInfo(Interpreter) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in new[] { script, "--engine", key, "--django", "--", "dotnet", cli })
        {
            psi.ArgumentList.Add(arg);
        }

        psi.Environment["PYTHONDONTWRITEBYTECODE"] = "1"; // no __pycache__ in the source tree
        psi.Environment["PYTHONUNBUFFERED"] = "1";
        var (code, stdout, stderr) = await ChildProcess.RunAsync(psi, TimeSpan.FromSeconds(240));
        var command = $"{Interpreter} tests/python/fault_matrix.py --engine {key} --django -- dotnet {cli}";
        var last = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        Assert.True(code == 0 && last is not null && last.StartsWith('{'),
            $"`{command}` exited with {code} without its result line (3: a Python module is missing).\nstderr:\n{stderr}\nstdout:\n{stdout}");

        using var document = JsonDocument.Parse(last);
        var result = document.RootElement;
        var versions = result.GetProperty("versions");
        var client = engine == DbEngine.PostgreSql
            ? $"SQLAlchemy {versions.GetProperty("sqlalchemy").GetString()} + psycopg2 {versions.GetProperty("psycopg2").GetString()}"
            : $"SQLAlchemy {versions.GetProperty("sqlalchemy").GetString()} + PyMySQL {versions.GetProperty("pymysql").GetString()}";
        var django = engine == DbEngine.PostgreSql
            ? $"Django {versions.GetProperty("django").GetString()} + psycopg2 {versions.GetProperty("psycopg2").GetString()}"
            : $"Django {versions.GetProperty("django").GetString()} + MySQLdb {versions.GetProperty("mysqldb").GetString()}";
        var engineLabel = MatrixDocument.EngineName(engine, result.GetProperty("serve").GetProperty("version").GetString() ?? "");
        var seconds = result.GetProperty("seconds").GetDouble();
        var rows = new List<PythonRow>();
        foreach (var row in result.GetProperty("rows").EnumerateArray())
        {
            var fault = row.GetProperty("fault").GetString()!;
            var observed = $"{fault} on {engine}: {row.GetRawText()}";
            if (row.GetProperty("premise").TryGetProperty("sessionGone", out var gone))
            {
                Assert.True(gone.GetBoolean(), $"the fault's premise failed: the server still lists the session. {observed}");
            }

            if (fault == "idle timeout")
            {
                var timeout = row.GetProperty("premise").GetProperty("timeout").GetString();
                Assert.True(timeout is "1s" or "1", $"the idle fault's 1 s timeout was not in effect for a new session (read {timeout}). {observed}");
            }

            Assert.True(row.GetProperty("error").ValueKind == JsonValueKind.Object, $"the naive client met no error: the fault did not reach it. {observed}");
            var isDjango = row.TryGetProperty("client", out var c) && c.GetString() == "django";
            rows.Add(new PythonRow(fault, engine, isDjango ? django : client, engineLabel, Cells(row), seconds, isDjango ? Django : Client));
        }

        Assert.Equal(Faults.Order(StringComparer.Ordinal), rows.Where(r => r.Client == Client).Select(r => r.Fault).Order(StringComparer.Ordinal));
        Assert.Equal(DjangoFaults.Order(StringComparer.Ordinal), rows.Where(r => r.Client == Django).Select(r => r.Fault).Order(StringComparer.Ordinal));
        return rows;
    }

    /// <summary>A row's cells, from fault_matrix.py's row or PythonDriven's (same shape; PythonDriven may add "blocked"
    /// (the statement had not returned after that many seconds), "recovers" (its own verdict) and "ambiguous").</summary>
    internal static string Cells(JsonElement row)
    {
        var error = row.GetProperty("error");
        var invalidated = row.GetProperty("invalidated").GetBoolean();
        var lasting = row.GetProperty("lasting").GetBoolean();
        string exception, code, message;
        if (error.ValueKind != JsonValueKind.Object)
        {
            exception = row.TryGetProperty("blocked", out var blocked)
                ? string.Create(CultureInfo.InvariantCulture, $"none: the statement blocks (the driver has no read timeout by default; still waiting after {blocked.GetDouble():0} s)")
                : "none: the write succeeded";
            code = "—";
            message = "—";
        }
        else
        {
            var driver = error.TryGetProperty("driver", out var d) && d.ValueKind == JsonValueKind.Object ? d : default;
            var hasDriver = driver.ValueKind == JsonValueKind.Object;
            exception = "`" + error.GetProperty("type").GetString() + (hasDriver ? " ← " + driver.GetProperty("type").GetString() : "") + "`";
            code = hasDriver && driver.TryGetProperty("pgcode", out var pg) && pg.ValueKind == JsonValueKind.String ? pg.GetString()!
                : hasDriver && driver.TryGetProperty("errno", out var errno) && errno.ValueKind == JsonValueKind.Number ? errno.GetInt32().ToString(CultureInfo.InvariantCulture)
                : "—";
            message = MatrixDocument.Escape(MatrixDocument.Normalise(MessageOf(hasDriver ? driver.GetProperty("message").GetString()! : error.GetProperty("message").GetString()!)));
        }

        var prePing = row.GetProperty("prePing");
        var hides = row.TryGetProperty("hides", out var hidesVerdict) && hidesVerdict.ValueKind == JsonValueKind.String ? hidesVerdict.GetString()!
            : error.ValueKind != JsonValueKind.Object && !row.TryGetProperty("blocked", out _) ? "yes"
            : prePing.ValueKind != JsonValueKind.Object ? "no"
            : prePing.GetProperty("error").ValueKind == JsonValueKind.Null ? "no; yes with pool_pre_ping=True"
            : "no, not even with pool_pre_ping=True";
        var next = row.GetProperty("nextAttempt").GetProperty("error");
        var premise = row.GetProperty("premise");
        string recovers;
        if (row.TryGetProperty("recovers", out var verdict) && verdict.ValueKind == JsonValueKind.String)
        {
            recovers = verdict.GetString()!;
        }
        else if (next.ValueKind != JsonValueKind.Null)
        {
            recovers = lasting
                ? "nothing while the fault lasts: the next attempt fails the same way"
                : "the next attempt fails too: " + next.GetProperty("type").GetString();
        }
        else if (premise.TryGetProperty("sameConnectionBeforeRollback", out var same) && same.ValueKind == JsonValueKind.Object)
        {
            recovers = $"the next attempt (a new checkout); the same Connection raises `{same.GetProperty("type").GetString()}` until `rollback()`";
        }
        else
        {
            recovers = row.TryGetProperty("client", out var c) && c.GetString() == "django"
                ? row.GetProperty("connectionAfter").GetString() switch
                {
                    "kept" => "the next request (the connection lives on)",
                    "closed at the request's end" => "the next request (Django's close_old_connections() closed the errored connection at the failed request's end)",
                    _ => "the next request (on the connection Django opened at the failed request's end)",
                }
                : invalidated ? "the next attempt (a new checkout)" : "the next statement (the session lives on)";
        }

        if (row.TryGetProperty("ambiguous", out var ambiguous) && ambiguous.ValueKind == JsonValueKind.String)
        {
            recovers += "; " + ambiguous.GetString();
        }

        var after = row.TryGetProperty("connectionAfter", out var connectionAfter) && connectionAfter.ValueKind == JsonValueKind.String
            ? connectionAfter.GetString()!
            : invalidated ? "invalidated" : "kept";
        return $"{exception} | {code} | {message} | n/a | n/a | n/a | {after} | {hides} | {recovers}";
    }

    /// <summary>PyMySQL's "(2013, 'text')" as its text; whitespace (psycopg2's tabs and new lines) as single spaces.</summary>
    private static string MessageOf(string message)
    {
        var tuple = PyMySqlTuple().Match(message.Trim());
        var text = tuple.Success ? tuple.Groups[1].Value : message;
        return Whitespace().Replace(text, " ").Trim();
    }

    [GeneratedRegex(@"^\(\d+, ['""](.*)['""]\)$", RegexOptions.Singleline)]
    private static partial Regex PyMySqlTuple();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
