using System.Text.Json;

namespace TestDbKit.Cli.Tests;

/// <summary><c>testdbkit doctor</c> run as a process, as a pipeline runs it: its exit codes, its JSON, and advice
/// that converges for every client when its own settings are fed back with <c>--setting</c>.</summary>
public sealed class DoctorCommandTests
{
    private const string Password = "sekrit-64";

    [Fact]
    public async Task Doctor_lists_every_provider_per_engine_with_what_to_do_and_exits_zero()
    {
        // An unreachable Docker engine, so the Docker rows must say why and what to do.
        var psi = CliProcess.Start(["doctor", "--json"], new Dictionary<string, string> { ["DOCKER_HOST"] = "unix:///nonexistent/docker.sock" });
        var (code, stdout, _) = await CliProcess.RunAsync(psi, TimeSpan.FromSeconds(120));
        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(stdout);
        AssertCamelCase(json.RootElement);
        var rows = json.RootElement.GetProperty("providers").EnumerateArray().ToList();
        foreach (var engine in new[] { "postgres", "mysql" })
        {
            foreach (var provider in new[] { "Local", "Docker", "External" })
            {
                Assert.Single(rows, r => r.GetProperty("provider").GetString() == provider && r.GetProperty("engine").GetString() == engine);
            }

            var docker = rows.Single(r => r.GetProperty("provider").GetString() == "Docker" && r.GetProperty("engine").GetString() == engine);
            Assert.False(docker.GetProperty("available").GetBoolean());
            Assert.Contains("DOCKER_HOST", docker.GetProperty("why").GetString(), StringComparison.Ordinal);
            Assert.False(string.IsNullOrEmpty(docker.GetProperty("image").GetString()));

            var external = rows.Single(r => r.GetProperty("provider").GetString() == "External" && r.GetProperty("engine").GetString() == engine);
            var variable = external.GetProperty("variable").GetString()!;
            Assert.StartsWith("TESTDBKIT_", variable, StringComparison.Ordinal);
            if (!external.GetProperty("available").GetBoolean())
            {
                Assert.Contains($"{variable} is not set: set it to", external.GetProperty("why").GetString(), StringComparison.Ordinal);
            }
        }

        var (textCode, text, _) = await CliProcess.RunAsync("doctor");
        Assert.Equal(0, textCode);
        Assert.Contains("Local (postgres): ", text, StringComparison.Ordinal);
        Assert.Contains("Local (mysql): available (runs MariaDB server /usr/sbin/mariadbd (MariaDB first))", text, StringComparison.Ordinal); // the binary and flavour it would run
        Assert.Contains("External (mysql): ", text, StringComparison.Ordinal);
    }

    /// <summary>Each input is malformed and names a server that cannot be reached (port 1): 64, not 2, proves doctor
    /// refused the input before it tried the server.</summary>
    [Theory]
    [InlineData("--engine", "postgres", "--connection", $"Host=127.0.0.1;Port=1;Password={Password};Bogus Keyword=1")]
    [InlineData("--engine", "postgres", "--connection", $"Host=127.0.0.1;Port=1;Password={Password};Connection Idle Lifetime=4")]
    [InlineData("--connection", $"Host=127.0.0.1;Port=1;Password={Password}")]
    [InlineData("--connection", $"postgresql://app:{Password}@[::1/db")]
    [InlineData("--connection", $"oracle://app:{Password}@127.0.0.1:1/db")]
    [InlineData("--connection", $"postgresql://app:{Password}@127.0.0.1:1/db?pool_recycle", "--client", "sqlalchemy")]
    [InlineData("--connection", $"postgresql://app:{Password}@127.0.0.1:1/db", "--client", "sqlalchemy", "--setting", "pool_recycle=soon")]
    [InlineData("--connection", $"postgresql://app:{Password}@127.0.0.1:1/db", "--client", "django", "--setting", "CONN_HEALTH_CHECKS=maybe")]
    [InlineData("--connection", $"postgresql://app:{Password}@127.0.0.1:1/db", "--setting", "nonsense")]
    [InlineData("--connection", $"postgresql://app:{Password}@127.0.0.1:1/db", "--setting", "Bogus Keyword=1")]
    [InlineData("--connection", $"mysql+pymysql://app:{Password}@127.0.0.1:1/db", "--client", "psycopg")]
    [InlineData("--engine", "mysql", "--connection", $"postgresql://app:{Password}@127.0.0.1:1/db")]
    [InlineData("--client", "django")]
    [InlineData("--client", "oracle-jdbc", "--connection", $"postgresql://app:{Password}@127.0.0.1:1/db")]
    public async Task Malformed_input_exits_64_with_what_is_wrong_and_never_the_password(params string[] args)
    {
        var (code, stdout, stderr) = await CliProcess.RunAsync(["doctor", .. args]);
        Assert.Equal(64, code);
        Assert.StartsWith("testdbkit: ", stderr, StringComparison.Ordinal);
        Assert.Contains("--help", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, stdout + stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--engine", "postgres", "--connection", $"Host=127.0.0.1;Port=1;Username=app;Password={Password};Timeout=2")]
    [InlineData("--connection", $"mysql+pymysql://app:{Password}@127.0.0.1:1/db?CONN_MAX_AGE=60", "--client", "django")]
    public async Task A_server_that_cannot_be_reached_exits_2_without_printing_the_password(params string[] args)
    {
        var (code, stdout, stderr) = await CliProcess.RunAsync(["doctor", .. args, "--json"]);
        Assert.Equal(2, code);
        Assert.Contains("127.0.0.1:1", stderr, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(stdout);
        Assert.Contains("127.0.0.1:1", json.RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Password, stdout + stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// For every client of the engine, on a real server with a short and a long idle timeout: doctor exits 1 while
    /// it finds a problem, each finding above Info names the settings that clear it (<c>apply</c>), and feeding them
    /// back as <c>--setting</c>s ends, within three rounds, at exit 0 with nothing above Info.
    /// </summary>
    [Theory]
    [InlineData(DbEngine.PostgreSql, "idle_session_timeout", "1s")]
    [InlineData(DbEngine.PostgreSql, "idle_session_timeout", "60s")]
    [InlineData(DbEngine.MySql, "wait_timeout", "1")]
    [InlineData(DbEngine.MySql, "wait_timeout", "60")]
    public async Task Each_clients_advice_converges_when_fed_back_as_settings(DbEngine engine, string setting, string value)
    {
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions
        {
            Provider = DbServerProvider.Local,
            Settings = new Dictionary<string, string> { [setting] = value },
        });
        var cs = server.AdminConnectionString;
        var password = Builder(engine, cs)["Password"].ToString()!;
        var key = engine == DbEngine.PostgreSql ? "postgres" : "mysql";
        (string Client, string[] Args)[] starts = engine == DbEngine.PostgreSql
            ?
            [
                ("npgsql", ["--engine", key, "--connection", cs, "--setting", "Connection Lifetime=7200"]),
                ("efcore", ["--engine", key, "--connection", cs + ";Connection Lifetime=7200"]),
                ("psycopg", ["--connection", Url(engine, cs, "postgresql+psycopg2") + "?keepalives=0"]),
                ("sqlalchemy", ["--connection", Url(engine, cs, "postgresql+psycopg2") + "?pool_recycle=3600"]),
                ("django", ["--connection", Url(engine, cs, "postgres"), "--setting", "CONN_MAX_AGE=600"]),
            ]
            :
            [
                ("mysqlconnector", ["--engine", key, "--connection", cs, "--setting", "ConnectionReset=false"]),
                ("efcore", ["--engine", key, "--connection", cs, "--setting", "ConnectionReset=false"]),
                ("pymysql", ["--connection", Url(engine, cs, "mysql+pymysql")]),
                ("sqlalchemy", ["--connection", Url(engine, cs, "mysql+pymysql"), "--setting", "pool_recycle=3600", "--setting", "pool_pre_ping=false"]),
                ("django", ["--connection", Url(engine, cs, "mysql"), "--setting", "CONN_MAX_AGE=None"]),
            ];
        foreach (var (client, start) in starts)
        {
            var args = new List<string> { "doctor", "--json", "--client", client };
            args.AddRange(start);
            for (var round = 0; ; round++)
            {
                var (code, stdout, stderr) = await CliProcess.RunAsync([.. args]);
                Assert.DoesNotContain(password, stdout + stderr, StringComparison.Ordinal);
                using var json = JsonDocument.Parse(stdout);
                AssertCamelCase(json.RootElement);
                Assert.Equal(client, json.RootElement.GetProperty("client").GetString());
                var open = json.RootElement.GetProperty("advice").EnumerateArray().Where(a => a.GetProperty("level").GetString() != "Info").ToList();
                var problems = open.Any(a => a.GetProperty("level").GetString() == "Problem");
                Assert.True(code == (problems ? 1 : 0), $"{client} at {value}: exit {code} with {stdout} {stderr}");
                if (round == 0)
                {
                    // premise: each start keeps connections too long (the Python drivers, which have no pool, get
                    // advice about the code that holds the connection instead)
                    var expected = client is "psycopg" or "pymysql" ? 0 : 1;
                    Assert.True(code == expected, $"{client} at {value}: the first run exited {code}: {stdout}");
                    var kinds = json.RootElement.GetProperty("advice").EnumerateArray().Select(a => a.GetProperty("kind").GetString()).ToList();
                    Assert.Contains(client is "psycopg" or "pymysql" ? "reconnect" : "idle-timeout", kinds);
                }

                if (open.Count == 0)
                {
                    break;
                }

                Assert.True(round < 3, $"{client} at {value}: the advice did not converge: {stdout}");
                foreach (var finding in open)
                {
                    var apply = finding.GetProperty("apply").EnumerateObject().ToList();
                    Assert.True(apply.Count > 0, $"{client}: nothing to apply for {finding}");
                    foreach (var p in apply)
                    {
                        args.AddRange(["--setting", $"{p.Name}={p.Value.GetString()}"]);
                    }
                }
            }
        }
    }

    private static System.Data.Common.DbConnectionStringBuilder Builder(DbEngine engine, string cs) =>
        engine == DbEngine.PostgreSql ? new Npgsql.NpgsqlConnectionStringBuilder(cs) : new MySqlConnector.MySqlConnectionStringBuilder(cs);

    /// <summary>The server as a URL in <paramref name="scheme"/>'s form, user and password percent-encoded.</summary>
    private static string Url(DbEngine engine, string cs, string scheme)
    {
        var b = Builder(engine, cs);
        string Get(string k) => b.TryGetValue(k, out var v) ? Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture)! : "";
        var (host, user) = engine == DbEngine.PostgreSql ? (Get("Host"), Get("Username")) : (Get("Server"), Get("User ID"));
        var database = Get("Database");
        return $"{scheme}://{Uri.EscapeDataString(user)}:{Uri.EscapeDataString(Get("Password"))}@{host}:{Get("Port")}/{database}";
    }

    /// <summary>Every key of every object in <paramref name="e"/> starts lower case (apply's keys are the
    /// client's own setting names, so its object is not walked).</summary>
    private static void AssertCamelCase(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    Assert.True(char.IsLower(p.Name[0]), $"JSON key '{p.Name}' is not camelCase");
                    if (p.Name != "apply")
                    {
                        AssertCamelCase(p.Value);
                    }
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in e.EnumerateArray())
                {
                    AssertCamelCase(item);
                }

                break;
        }
    }
}
