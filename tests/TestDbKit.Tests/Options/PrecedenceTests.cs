using TestDbKit.Options;
using TestDbKit.Servers;
using TestDbKit.Sessions;

[assembly: TestDbKit.TestDbConfiguration(typeof(TestDbKit.Tests.Options.AssemblyDefaults))]

namespace TestDbKit.Tests.Options;

/// <summary>This assembly's configuration (no test here inherits a base class, so it only serves these tests).</summary>
public sealed class AssemblyDefaults : ITestDbConfiguration
{
    public void Configure(TestDbOptions options)
    {
        options.MaxDatabases = 3;
        options.Isolation = IsolationMode.Transaction;
        options.Image = "assembly/image:1";
        options.ServerSettings["from_assembly"] = "1";
        options.ConnectionString += c => c["Assembly"] = "yes";
    }
}

/// <summary>
/// One rule for every option: code wins, a TESTDBKIT_* variable fills in what code leaves unset, the default comes
/// last; and among code, the test class's Configure wins over the constructor's isolation, which wins over the
/// assembly's configuration. The variables are set with <see cref="KitEnvironment.Override"/>, for this test's flow
/// only (the process environment, which tests beside it read, is never touched); the servers are real.
/// </summary>
public sealed class PrecedenceTests
{
    private sealed class SomeTests;

    [Fact]
    public void The_class_sees_the_assemblys_options_and_wins_over_them()
    {
        var sawAssembly = false;
        var options = SessionOptionsResolver.Resolve(typeof(SomeTests), DbEngine.MySql, IsolationMode.Reset, o =>
        {
            sawAssembly = o.MaxDatabases == 3 && o.Image == "assembly/image:1" && o.Engine == DbEngine.MySql;
            o.MaxDatabases = 2;
            o.ServerSettings["from_class"] = "2";
            o.ConnectionString += c => c["Class"] = "yes";
        });

        Assert.True(sawAssembly, "the class's Configure should run after the assembly's and see what it set");
        Assert.Equal(2, options.MaxDatabases);
        Assert.Equal("assembly/image:1", options.Image);
        Assert.Equal(IsolationMode.Transaction, options.Isolation);
        Assert.Equal(["from_assembly", "from_class"], options.ServerSettings.Keys.Order(StringComparer.Ordinal));
        var builder = new System.Data.Common.DbConnectionStringBuilder();
        options.ConnectionString!(builder);
        Assert.Equal("yes", builder["Assembly"]);
        Assert.Equal("yes", builder["Class"]);
    }

    [Fact]
    public void The_constructors_isolation_wins_over_the_assembly_and_the_class_over_both()
    {
        Assert.Equal(IsolationMode.Clone, SessionOptionsResolver.Resolve(typeof(SomeTests), DbEngine.PostgreSql, IsolationMode.Clone, _ => { }).Isolation);
        Assert.Equal(IsolationMode.Reset, SessionOptionsResolver.Resolve(typeof(SomeTests), DbEngine.PostgreSql, IsolationMode.Clone, o => o.Isolation = IsolationMode.Reset).Isolation);
    }

    [Fact]
    public void A_Configure_that_throws_is_named_in_the_error()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            SessionOptionsResolver.Resolve(typeof(SomeTests), DbEngine.PostgreSql, IsolationMode.Reset, _ => throw new ArgumentException("bad value")));
        Assert.Contains(typeof(SomeTests).FullName + ".Configure threw ArgumentException: bad value", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_variable_is_named_once_with_the_names_the_providers_use()
    {
        foreach (var dialect in Engines.EngineRegistry.All)
        {
            Assert.Equal(Engines.EngineRegistry.Module(dialect.Engine).ConnectionVariable, KitEnvironment.ExternalVariable(dialect.Engine));
            Assert.StartsWith("TESTDBKIT_" + dialect.Key.ToUpperInvariant(), KitEnvironment.ImageVariable(dialect.Engine), StringComparison.Ordinal);
        }

        Assert.Equal("TESTDBKIT_POSTGRES_IMAGE", KitEnvironment.ImageVariable(DbEngine.PostgreSql));
        Assert.Equal("TESTDBKIT_MYSQL_BIN", KitEnvironment.BinVariable(DbEngine.MySql));
        Assert.Equal("TESTDBKIT_POSTGRES_OS_USER", KitEnvironment.OsUserVariable(DbEngine.PostgreSql));
        Assert.Null(KitEnvironment.OsUserVariable(DbEngine.MySql)); // MariaDB runs as root with --user=root: no such variable
        Assert.Contains("TESTDBKIT_POSTGRES_OS_USER", KitEnvironment.All);
        Assert.DoesNotContain("TESTDBKIT_MYSQL_OS_USER", KitEnvironment.All);
        Assert.Equal(KitEnvironment.All.Count, KitEnvironment.All.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void An_override_is_seen_in_its_flow_only_and_empty_means_unset()
    {
        using (KitEnvironment.Override(new Dictionary<string, string?> { [KitEnvironment.Provider] = "docker", [KitEnvironment.ChaosSeed] = "" }))
        {
            Assert.Equal(DbServerProvider.Docker, KitEnvironment.ProviderOrAuto());
            Assert.Null(KitEnvironment.ChaosSeedValue);
        }

        Assert.Equal(Environment.GetEnvironmentVariable(KitEnvironment.Provider) is { Length: > 0 } ? KitEnvironment.ProviderOrAuto() : DbServerProvider.Auto, KitEnvironment.ProviderOrAuto());
    }

    [Fact]
    public async Task The_code_provider_wins_over_the_variable()
    {
        using var env = KitEnvironment.Override(new Dictionary<string, string?> { [KitEnvironment.Provider] = "external", ["TESTDBKIT_POSTGRES"] = null });

        // The premise: the variable is in force (Auto goes External, which has no connection string here).
        var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(DbEngine.PostgreSql));
        Assert.Equal(DbServerProvider.External, e.Provider);

        await using var server = await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.Local });
        Assert.Equal(DbServerProvider.Local, server.Provider);
    }

    [Fact]
    public async Task The_variable_fills_in_what_code_leaves_unset()
    {
        var real = await DbServer.SharedAsync(DbEngine.PostgreSql);
        using var env = KitEnvironment.Override(new Dictionary<string, string?> { [KitEnvironment.Provider] = null, ["TESTDBKIT_POSTGRES"] = real.AdminConnectionString });
        await using var server = await DbServer.StartAsync(DbEngine.PostgreSql);
        Assert.Equal(DbServerProvider.External, server.Provider);
        Assert.Equal(1, Convert.ToInt32(await server.ScalarAsync("SELECT 1")));
    }

    [Fact]
    public async Task The_code_connection_string_wins_over_the_variable()
    {
        var real = await DbServer.SharedAsync(DbEngine.PostgreSql);
        using var env = KitEnvironment.Override(new Dictionary<string, string?>
        {
            [KitEnvironment.Provider] = "external",
            ["TESTDBKIT_POSTGRES"] = "Host=127.0.0.1;Port=1;Username=nobody;Password=none",
        });

        // The premise: the variable alone points at nothing.
        await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { StartTimeout = TimeSpan.FromSeconds(2) }));

        await using var server = await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { ConnectionString = real.AdminConnectionString });
        Assert.Equal(DbServerProvider.External, server.Provider);
        Assert.Equal(1, Convert.ToInt32(await server.ScalarAsync("SELECT 1")));
    }

    [Fact]
    public async Task Options_that_name_what_the_variables_name_share_one_server()
    {
        var real = await DbServer.SharedAsync(DbEngine.PostgreSql);
        using var env = KitEnvironment.Override(new Dictionary<string, string?>
        {
            [KitEnvironment.Provider] = "external",
            ["TESTDBKIT_POSTGRES"] = real.AdminConnectionString,
        });

        var fromVariables = await DbServer.SharedForAsync(DbEngine.PostgreSql, new DbServerOptions(), CancellationToken.None);
        Assert.Equal(DbServerProvider.External, fromVariables.Provider); // the premise: the variables are in force

        var fromCode = await DbServer.SharedForAsync(DbEngine.PostgreSql,
            new DbServerOptions { Provider = DbServerProvider.External, ConnectionString = real.AdminConnectionString }, CancellationToken.None);
        Assert.Same(fromVariables, fromCode);
    }
}
