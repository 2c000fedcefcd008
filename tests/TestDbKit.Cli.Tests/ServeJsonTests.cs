using TestDbKit.Tests.Common;
using System.Text.Json;

namespace TestDbKit.Cli.Tests;

/// <summary><c>testdbkit serve --json</c> as another language reads it: every field, a connection made from the
/// fields alone, the URLs, the administrator's object that <c>fault</c> and <c>chaos</c> take, and
/// <c>--database</c> creating a kit database reached as the kit's test user on MySQL.</summary>
public sealed class ServeJsonTests
{
    [Theory]
    [InlineData(DbEngine.PostgreSql, "postgres", "postgresql", "postgresql", "postgresql+psycopg2")]
    [InlineData(DbEngine.MySql, "mysql", "mysql", "mariadb", "mysql+pymysql")]
    public async Task Serve_with_a_database_prints_its_fields_URLs_and_the_administrators(DbEngine engine, string key, string engineName, string flavour, string sqlalchemy)
    {
        await using var serve = await ServeProcess.StartAsync(key, "--database", "orders");
        var json = serve.Json;
        string Text(string name) => json.GetProperty(name).GetString()!;

        Assert.Equal(engineName, Text("engine"));
        Assert.Equal(flavour, Text("flavour"));
        Assert.Matches(@"^\d+\.\d+", Text("version"));
        Assert.Equal("Local", Text("provider"));
        Assert.Equal("127.0.0.1", Text("host"));
        var port = json.GetProperty("port").GetInt32();
        Assert.Equal("tdk_orders", Text("database"));
        Assert.Equal(engine == DbEngine.MySql ? "tdk_app" : "postgres", Text("user")); // the kit's test user on MySQL
        var (user, password) = (Text("user"), Text("password"));
        Assert.Equal($"{engineName}://{user}:{password}@127.0.0.1:{port}/tdk_orders", Text("url"));
        Assert.Equal($"{sqlalchemy}://{user}:{password}@127.0.0.1:{port}/tdk_orders", json.GetProperty("urls").GetProperty("sqlalchemy").GetString());
        Assert.True(File.Exists(Text("control")));
        Assert.True(json.GetProperty("pid").GetInt32() > 0);

        // A connection made from the fields alone reaches the new database.
        var fromFields = engine == DbEngine.PostgreSql
            ? $"Host={Text("host")};Port={port};Username={user};Password={password};Database={Text("database")}"
            : $"Server={Text("host")};Port={port};User ID={user};Password={password};Database={Text("database")}";
        await using (var session = await Sessions.OpenAsync(engine, fromFields))
        {
            await session.ExecuteAsync("CREATE TABLE t (id int)");
        }

        await using (var session = await Sessions.OpenAsync(engine, Text("connectionString")))
        {
            Assert.Equal(0L, Convert.ToInt64(await session.ScalarAsync("SELECT count(*) FROM t")));
        }

        // The administrator's object: its connection string opens, and its URL is what fault takes.
        var admin = json.GetProperty("admin");
        Assert.Equal($"{engineName}://{admin.GetProperty("user").GetString()}:{admin.GetProperty("password").GetString()}@127.0.0.1:{port}", admin.GetProperty("url").GetString());
        await using (var session = await Sessions.OpenAsync(engine, admin.GetProperty("connectionString").GetString()!))
        {
            await session.ExecuteAsync("SELECT 1");
        }

        var (code, _, stderr) = await CliProcess.RunAsync("fault", "kill", "--connection", admin.GetProperty("url").GetString()!, "--database", "tdk_orders");
        Assert.True(code == 0, stderr);

        // The engine field is a name --engine takes, with the administrator's driver connection string.
        (code, _, stderr) = await CliProcess.RunAsync("fault", "kill", "--engine", engineName, "--connection", admin.GetProperty("connectionString").GetString()!, "--database", "tdk_orders");
        Assert.True(code == 0, stderr);
    }

    [Fact]
    public async Task Serve_without_a_database_prints_the_administrators_fields_and_a_null_database()
    {
        await using var serve = await ServeProcess.StartAsync("postgres");
        Assert.Equal(JsonValueKind.Null, serve.Json.GetProperty("database").ValueKind);
        Assert.Equal(serve.Json.GetProperty("admin").GetProperty("connectionString").GetString(), serve.Json.GetProperty("connectionString").GetString());
        Assert.DoesNotContain("/tdk", serve.Json.GetProperty("url").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql, "postgres", "CREATE ROLE {0} SUPERUSER LOGIN PASSWORD '{1}'")]
    [InlineData(DbEngine.MySql, "mysql", "CREATE USER '{0}'@'%' IDENTIFIED BY '{1}'; GRANT ALL PRIVILEGES ON *.* TO '{0}'@'%'")]
    public async Task A_URL_with_a_percent_encoded_password_is_read_back_by_connection(DbEngine engine, string key, string createUser)
    {
        await using var serve = await ServeProcess.StartAsync(key, "--database", "w");
        const string user = "odd_admin";
        const string password = "p@ss:w/rd%?#x";
        await using (var admin = await Sessions.OpenAsync(engine, serve.ConnectionString))
        {
            await admin.ExecuteAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, createUser, user, password));
        }

        var port = serve.Json.GetProperty("port").GetInt32();
        var url = $"{serve.Json.GetProperty("engine").GetString()}://{user}:{Uri.EscapeDataString(password)}@127.0.0.1:{port}/tdk_w";
        await using var victim = await Sessions.OpenAsync(engine, serve.TestConnectionString);
        var (code, stdout, stderr) = await CliProcess.RunAsync("fault", "kill", "--connection", url, "--database", "tdk_w");
        Assert.True(code == 0, stderr);
        await TestDbKit.Tests.Common.Expect.ConnectionLostAsync(() => victim.ExecuteAsync("SELECT 1"), "the session killed through the URL's user");
        Assert.DoesNotContain(password, stdout + stderr, StringComparison.Ordinal);
    }
}
