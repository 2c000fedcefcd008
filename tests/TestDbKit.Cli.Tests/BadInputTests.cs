namespace TestDbKit.Cli.Tests;

/// <summary>Bad values of the variables fault and chaos read: malformed input (exit 64) naming the variable, not a
/// crash and not a silent default. Nothing listens at 127.0.0.1:1, and neither command gets as far as connecting.</summary>
public sealed class BadInputTests
{
    private const string Nowhere = "postgresql://u:sekrit-78@127.0.0.1:1/x";

    [Fact]
    public async Task A_chaos_seed_variable_that_is_not_a_number_exits_64_naming_it_unless_seed_is_given()
    {
        var env = new Dictionary<string, string> { ["TESTDBKIT_CHAOS_SEED"] = "12a" };
        var (code, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Start(["chaos", "--duration", "1s", "--connection", Nowhere], env), TimeSpan.FromSeconds(120));
        Assert.True(code == 64, $"exit {code}\n{stderr}");
        Assert.Contains("TESTDBKIT_CHAOS_SEED='12a' is not a seed", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("sekrit-78", stdout + stderr, StringComparison.Ordinal);

        // --seed wins over the variable, so its value does not matter: the run goes on to the server, and is refused there.
        (code, _, stderr) = await CliProcess.RunAsync(CliProcess.Start(["chaos", "--seed", "5", "--duration", "1s", "--connection", Nowhere], env), TimeSpan.FromSeconds(120));
        Assert.True(code == 3, $"exit {code}\n{stderr}");
    }

    [Fact]
    public async Task An_allow_chaos_variable_that_is_neither_yes_nor_no_exits_64_naming_it()
    {
        var env = new Dictionary<string, string> { ["TESTDBKIT_ALLOW_CHAOS"] = "maybe" };
        var (code, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Start(["fault", "kill", "--connection", Nowhere], env), TimeSpan.FromSeconds(120));
        Assert.True(code == 64, $"exit {code}\n{stderr}");
        Assert.Contains("TESTDBKIT_ALLOW_CHAOS='maybe' is neither yes nor no", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("sekrit-78", stdout + stderr, StringComparison.Ordinal);
    }
}
