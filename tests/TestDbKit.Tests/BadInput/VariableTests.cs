using Xunit.Abstractions;
using TestDbKit.Faults;
using TestDbKit.Options;

namespace TestDbKit.Tests.BadInput;

/// <summary>Bad values of the <c>TESTDBKIT_*</c> variables that had no test of their own. Each sets its variable
/// for its own async flow only (<see cref="KitEnvironment.Override"/>), so it runs beside any other test.</summary>
public sealed class VariableTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("12a")]
    [InlineData("seed")]
    [InlineData("99999999999")]
    public void A_chaos_seed_that_is_not_a_whole_number_is_refused_naming_it(string value)
    {
        using var env = Set(KitEnvironment.ChaosSeed, value);
        var e = Assert.Throws<ArgumentException>(() => ChaosSchedule.SeedFromEnvironment()); // what Start and testdbkit chaos read
        output.WriteLine(e.Message);
        Assert.Contains($"TESTDBKIT_CHAOS_SEED='{value}' is not a seed", e.Message, StringComparison.Ordinal);
        Assert.Contains("unset it", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_chaos_seed_is_read_as_written()
    {
        using var env = Set(KitEnvironment.ChaosSeed, " -42 ");
        Assert.Equal(-42, ChaosSchedule.SeedFromEnvironment());
    }

    [Fact]
    public async Task An_allow_chaos_value_that_is_neither_yes_nor_no_is_refused_naming_it()
    {
        const DbEngine engine = DbEngine.PostgreSql;
        var shared = await DbServer.SharedAsync(engine);
        await using var external = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.External, ConnectionString = shared.AdminConnectionString });
        await using var pool = await DatabasePool.CreateAsync(external, new DatabasePoolOptions { MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        using (Set(KitEnvironment.AllowChaos, "on"))
        {
            await db.Faults.KillAllSessionsAsync(); // the premise: a yes word reaches the consent check, which lets it through
        }

        using var env = Set(KitEnvironment.AllowChaos, "maybe");
        var e = await Assert.ThrowsAsync<ArgumentException>(() => db.Faults.KillAllSessionsAsync());
        output.WriteLine(e.Message);
        Assert.Contains("TESTDBKIT_ALLOW_CHAOS='maybe' is neither yes nor no", e.Message, StringComparison.Ordinal);
        Assert.Contains("Use 1 or 0", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_docker_pull_policy_that_is_not_one_is_refused_before_docker_is_asked()
    {
        using var env = Set(KitEnvironment.DockerPull, "sometimes");
        var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(DbEngine.MySql, new DbServerOptions { Provider = DbServerProvider.Docker }));
        output.WriteLine(e.Message);
        Assert.Equal(DbServerProvider.Docker, e.Provider);
        Assert.Contains("TESTDBKIT_DOCKER_PULL='sometimes' is not a pull policy", e.Message, StringComparison.Ordinal);
        Assert.Contains("never", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_data_root_that_is_a_file_is_a_clear_error_and_the_file_is_untouched()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, "not a folder");
            using var env = Set(KitEnvironment.DataRoot, file);
            var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.Local }));
            output.WriteLine(e.Message);
            Assert.Equal(DbServerProvider.Local, e.Provider);
            Assert.Contains(file, e.Message, StringComparison.Ordinal);
            Assert.Contains("TESTDBKIT_DATA_ROOT", e.Message, StringComparison.Ordinal);
            Assert.Equal("not a folder", await File.ReadAllTextAsync(file));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [SkippableFact]
    public async Task An_os_user_that_does_not_exist_is_named_with_the_fix()
    {
        Skip.IfNot(TestSupport.IsRoot, "the kit runs PostgreSQL as another OS user only when it runs as root");
        using var env = Set(KitEnvironment.OsUserVariable(DbEngine.PostgreSql)!, "tdk-no-such-user");
        var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.Local }));
        output.WriteLine(e.Message);
        Assert.Contains("no OS user 'tdk-no-such-user'", e.Message, StringComparison.Ordinal);
        Assert.Contains("TESTDBKIT_POSTGRES_OS_USER", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_malformed_connection_string_in_the_variable_is_named_by_the_variable_without_the_password(DbEngine engine)
    {
        var variable = KitEnvironment.ExternalVariable(engine);
        using var env = KitEnvironment.Override(new Dictionary<string, string?> { [variable] = "Host=127.0.0.1;Port=abc;Password=sekrit-79", [KitEnvironment.Provider] = null });
        var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(engine));
        output.WriteLine(e.Message);
        Assert.Contains(variable, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sekrit-79", e.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_bin_variable_that_names_a_folder_without_the_server_says_where_it_looked(DbEngine engine)
    {
        var empty = Directory.CreateTempSubdirectory("tdk-nobin-").FullName;
        try
        {
            var variable = KitEnvironment.BinVariable(engine);
            using var env = Set(variable, empty);
            var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local }));
            output.WriteLine(e.Message);
            Assert.Contains($"in {empty} (from {variable})", e.Message, StringComparison.Ordinal);
            Assert.Contains("scripts/install-servers.sh", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(empty);
        }
    }

    [Servers.DockerFact]
    public async Task An_image_variable_that_names_no_local_image_is_named_with_the_fix()
    {
        var variable = KitEnvironment.ImageVariable(DbEngine.PostgreSql);
        using var env = KitEnvironment.Override(new Dictionary<string, string?> { [variable] = "testdbkit/no-such-image:0", [KitEnvironment.DockerPull] = "never" });
        var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.Docker }));
        output.WriteLine(e.Message);
        Assert.Contains("'testdbkit/no-such-image:0'", e.Message, StringComparison.Ordinal);
        Assert.Contains("is not on this machine", e.Message, StringComparison.Ordinal);
        Assert.Contains(variable, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Ryuk", e.Message, StringComparison.Ordinal); // the reaper is off in this lane: not its fault
    }

    private static IDisposable Set(string variable, string value) => KitEnvironment.Override(new Dictionary<string, string?> { [variable] = value });
}
