using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace TestDbKit.Cli.Tests;

/// <summary>A <c>testdbkit serve --json</c> child process and the fields it printed, stopped with SIGTERM on dispose.</summary>
internal sealed class ServeProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServeProcess(Process process, JsonElement json)
    {
        _process = process;
        Json = json;
    }

    /// <summary>The one JSON object serve printed.</summary>
    public JsonElement Json { get; }

    /// <summary>The administrator's connection string (what fault and chaos take).</summary>
    public string ConnectionString => Json.GetProperty("admin").GetProperty("connectionString").GetString()!;

    /// <summary>The administrator's URL.</summary>
    public string AdminUrl => Json.GetProperty("admin").GetProperty("url").GetString()!;

    /// <summary>The test sessions' connection string: the database's, with the test user on MySQL, under --database.</summary>
    public string TestConnectionString => Json.GetProperty("connectionString").GetString()!;

    public string? Database => Json.GetProperty("database").GetString();

    public int Pid => _process.Id;

    public static async Task<ServeProcess> StartAsync(string engine, params string[] extra)
    {
        var process = Process.Start(CliProcess.Start(["serve", "--engine", engine, "--provider", "local", "--json", .. extra]))!;
        var stderr = process.StandardError.ReadToEndAsync(); // progress lines; drained so the child never blocks on them
        var line = await process.StandardOutput.ReadLineAsync(new CancellationTokenSource(TimeSpan.FromSeconds(90)).Token);
        if (line is null)
        {
            await process.WaitForExitAsync();
            throw new InvalidOperationException($"testdbkit serve ended ({process.ExitCode}) without printing its server: {await stderr}");
        }

        using var json = JsonDocument.Parse(line);
        return new ServeProcess(process, json.RootElement.Clone());
    }

    /// <summary>A connection string for the database <paramref name="name"/> as the test sessions connect (the
    /// test user on MySQL): the printed one with the database swapped.</summary>
    public string TestConnectionStringFor(DbEngine engine, string name)
    {
        var builder = engine == DbEngine.PostgreSql
            ? (System.Data.Common.DbConnectionStringBuilder)new Npgsql.NpgsqlConnectionStringBuilder(TestConnectionString) { Database = name }
            : new MySqlConnector.MySqlConnectionStringBuilder(TestConnectionString) { Database = name };
        return builder.ConnectionString;
    }

    public async ValueTask DisposeAsync()
    {
        Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();
        await _process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        _process.Dispose();
    }
}
