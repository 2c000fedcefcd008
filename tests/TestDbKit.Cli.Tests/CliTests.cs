using System.Diagnostics;
using System.Text.Json;

namespace TestDbKit.Cli.Tests;

/// <summary>The tool run as a process, as a pipeline runs it.</summary>
public sealed class CliTests
{
    [Theory]
    [InlineData("doctor", "--engine", "oracle")]
    [InlineData("doctor", "--connection", "Host=x")]
    [InlineData("serve", "--engine", "postgres", "--port", "70000")]
    [InlineData("serve")]
    [InlineData("frobnicate")]
    [InlineData("chaos", "--engine", "postgres")]
    [InlineData("chaos", "--engine", "postgres", "--connection", "Host=127.0.0.1", "--faults", "kill,meteor")]
    [InlineData("chaos", "--engine", "postgres", "--connection", "Host=127.0.0.1", "--duration", "soon")]
    [InlineData("chaos", "--engine", "postgres", "--connection", "Host=127.0.0.1", "--duration", "0s")]
    [InlineData("chaos", "--engine", "postgres", "--connection", "Host=127.0.0.1", "--seed", "x")]
    public async Task Bad_arguments_get_a_clear_message_and_exit_64(params string[] args)
    {
        var (code, _, stderr) = await RunAsync(args);
        Assert.Equal(64, code);
        Assert.StartsWith("testdbkit: ", stderr, StringComparison.Ordinal);
        Assert.Contains("--help", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_prints_a_working_connection_string_and_stops_cleanly_on_SIGTERM()
    {
        var psi = Start("serve", "--engine", "mysql", "--provider", "local", "--json");
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var line = await process.StandardOutput.ReadLineAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        using var json = JsonDocument.Parse(line!);
        Assert.True(File.Exists(json.RootElement.GetProperty("control").GetString()), "serve did not open its control socket");
        var folder = json.RootElement.GetProperty("folder").GetString()!;
        await using (var connection = new MySqlConnector.MySqlConnection(json.RootElement.GetProperty("connectionString").GetString()))
        {
            await connection.OpenAsync();
        }

        Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
        await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        Assert.Equal(0, process.ExitCode);
        Assert.False(Directory.Exists(folder), "serve left its data directory behind");
        Assert.Equal("", (await process.StandardOutput.ReadToEndAsync()).Trim()); // stdout holds the JSON line only

        // Progress went to stderr, as plain lines since stderr is not a terminal here.
        var progress = await stderr;
        Assert.Contains("Starting a MySql server ...", progress, StringComparison.Ordinal);
        Assert.Contains("ready (Local provider)", progress, StringComparison.Ordinal);
        Assert.DoesNotContain('\r', progress);
    }

    private static Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args) => CliProcess.RunAsync(args);

    private static ProcessStartInfo Start(params string[] args) => CliProcess.Start(args);
}
