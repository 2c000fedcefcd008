using TestDbKit.Servers;

namespace TestDbKit.Tests.Servers;

/// <summary>After a crash the kit caused, a server that will not start gets its engine's repair, once: MariaDB's Aria
/// log that cannot be replayed is deleted (the server's own advice), and nothing else is touched.</summary>
public sealed class CrashRepairTests : IDisposable
{
    private const string AriaFailure = """
        2026-12-02  8:03:42 0 [ERROR] mariadbd: Aria engine: Redo phase failed
        2026-12-02  8:03:42 0 [ERROR] mariadbd: Aria recovery failed. Please run aria_chk -r on all Aria tables (*.MAI) and delete all aria_log.######## files
        """;

    private readonly LocalLayout _layout = new(Path.Combine(Path.GetTempPath(), "tdk-repair-" + Guid.NewGuid().ToString("N")[..8]));

    public CrashRepairTests()
    {
        Directory.CreateDirectory(_layout.DataDirectory);
        foreach (var name in new[] { "aria_log.00000001", "aria_log_control", "ibdata1", "ib_logfile0" })
        {
            File.WriteAllText(Path.Combine(_layout.DataDirectory, name), "x");
        }
    }

    [Fact]
    public void MariaDB_whose_Aria_recovery_failed_loses_its_Aria_log_and_nothing_else()
    {
        var recipe = LocalRecipe.Locate(DbEngine.MySql, null);
        var repair = recipe.RepairAfterCrash(_layout, "The MySQL server exited with code 1 while starting. The end of its log:\n" + AriaFailure);

        Assert.Equal("Aria recovery failed; deleted 2 Aria log file(s)", repair);
        Assert.Equal(["ib_logfile0", "ibdata1"], Directory.EnumerateFiles(_layout.DataDirectory).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(DbEngine.MySql)]
    [InlineData(DbEngine.PostgreSql)]
    public void Any_other_start_failure_is_not_repaired(DbEngine engine)
    {
        var recipe = LocalRecipe.Locate(engine, null);
        Assert.Null(recipe.RepairAfterCrash(_layout, "[ERROR] Can't start server: Bind on TCP/IP port: Address already in use"));
        Assert.Equal(4, Directory.EnumerateFiles(_layout.DataDirectory).Count());
    }

    public void Dispose() => Directory.Delete(_layout.Root, recursive: true);
}
