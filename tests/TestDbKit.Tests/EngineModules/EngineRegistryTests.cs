using DotNet.Testcontainers.Images;
using Microsoft.Extensions.Logging.Abstractions;
using TestDbKit.Engines;
using TestDbKit.Servers;
using TestDbKit.Tests.Servers;

namespace TestDbKit.Tests.EngineModules;

/// <summary>The registry is the one list of engines: every engine in it supplies every part the kit looks up, so an
/// engine half added (a <see cref="DbEngine"/> value without a module, or a module missing a part) fails here.</summary>
public sealed class EngineRegistryTests
{
    public static TheoryData<string> Keys => [.. EngineRegistry.Keys];

    [Fact]
    public void Every_DbEngine_value_has_exactly_one_module_and_the_lookups_agree()
    {
        foreach (var engine in Enum.GetValues<DbEngine>())
        {
            var module = EngineRegistry.Module(engine);
            Assert.Equal(engine, module.Engine);
            Assert.Same(module.Dialect, EngineRegistry.For(engine));
            Assert.Same(module.Dialect, EngineDialect.For(engine));
            Assert.Same(module, EngineRegistry.ModuleFromKey(module.Key.ToUpperInvariant()));
        }

        Assert.Equal(Enum.GetValues<DbEngine>().Length, EngineRegistry.Modules.Count);
        Assert.Equal(EngineRegistry.Modules.Count, EngineRegistry.Modules.Select(m => m.Engine).Distinct().Count());
        Assert.Equal(EngineRegistry.Modules.Select(m => m.Dialect), EngineRegistry.All);
        Assert.Equal(EngineRegistry.Modules.Select(m => m.Key), EngineRegistry.Keys);
    }

    [Fact]
    public void An_unknown_engine_fails_loudly_naming_the_known_ones()
    {
        var byValue = Assert.Throws<ArgumentOutOfRangeException>(() => EngineRegistry.Module((DbEngine)99));
        Assert.Contains("PostgreSql", byValue.Message, StringComparison.Ordinal);
        var byKey = Assert.Throws<ArgumentException>(() => EngineRegistry.ModuleFromKey("sqlite"));
        Assert.Contains(string.Join(", ", EngineRegistry.Keys), byKey.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Names_users_see_are_distinct_between_engines()
    {
        foreach (var select in new Func<EngineModule, string>[] { m => m.Key, m => m.Name, m => m.ConnectionVariable, m => m.ImageVariable, m => m.BinVariable })
        {
            var names = EngineRegistry.Modules.Select(select).ToList();
            Assert.All(names, n => Assert.False(string.IsNullOrWhiteSpace(n)));
            Assert.Equal(names.Count, names.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        }

        Assert.All(EngineRegistry.Modules, m => Assert.StartsWith("TESTDBKIT_", m.ConnectionVariable, StringComparison.Ordinal));
        Assert.All(EngineRegistry.Modules, m => Assert.Equal(m.ConnectionVariable, TestDbKit.Options.KitEnvironment.ExternalVariable(m.Engine)));
    }

    [Theory]
    [MemberData(nameof(Keys))]
    public void Each_engine_supplies_its_dialect_and_tracker_and_names(string key)
    {
        var module = EngineRegistry.ModuleFromKey(key);
        var dialect = module.Dialect;
        Assert.Equal(key, dialect.Key);
        Assert.False(string.IsNullOrWhiteSpace(dialect.Name));
        Assert.NotNull(dialect.Tracker);
        var cs = dialect.BuildConnectionString("127.0.0.1", 4321, module.AdminUser, "secret", "tdk_x", "testdbkit-admin");
        Assert.Equal(new Endpoint("127.0.0.1", 4321, module.AdminUser, "tdk_x"), dialect.Parse(cs));
        Assert.Equal("secret", dialect.PasswordOf(cs));
        var (setting, lostError) = module.IdleTimeoutAdvice;
        Assert.False(string.IsNullOrWhiteSpace(setting));
        Assert.False(string.IsNullOrWhiteSpace(lostError));
    }

    [Theory]
    [MemberData(nameof(Keys))]
    public void Each_engine_supplies_its_container_and_one_server_tuning_for_Local_and_Docker(string key)
    {
        var module = EngineRegistry.ModuleFromKey(key);
        Assert.False(string.IsNullOrWhiteSpace(module.DefaultImage));
        Assert.InRange(module.ContainerPort, 1, 65535);
        Assert.False(string.IsNullOrWhiteSpace(module.AdminUser));
        Assert.NotEmpty(module.ServerTuning);

        var mine = new Dictionary<string, string> { ["tdk_probe_setting"] = "7" };
        var arguments = string.Join(" ", module.SettingArguments(module.ServerTuning.Concat(mine)));
        Assert.All(module.ServerTuning, s => Assert.Contains($"{s.Key}={s.Value}", arguments, StringComparison.Ordinal));
        Assert.EndsWith("tdk_probe_setting=7", arguments, StringComparison.Ordinal); // the user's settings come last and win

        // The binaries are installed on the machines the suite runs on (scripts/install-servers.sh).
        var recipe = module.LocateLocal(null, null);
        Assert.Same(module, recipe.Module);
        Assert.Same(module.Dialect, recipe.Dialect);
        Assert.Same(recipe.GetType(), LocalRecipe.Locate(module.Engine, null).GetType());
        var command = string.Join(" ", recipe.ServerCommand(new LocalLayout("/tmp/tdk"), 4321, mine));
        Assert.All(module.ServerTuning, s => Assert.Contains($"{s.Key}={s.Value}", command, StringComparison.Ordinal));
        Assert.EndsWith("tdk_probe_setting=7", command, StringComparison.Ordinal);
    }

    /// <summary>Each engine builds its container (Testcontainers needs a Docker engine even to build one; the
    /// containers are started in ServerTuningTests).</summary>
    [Trait("Category", "Docker")]
    [DockerFact]
    public async Task Each_engine_supplies_its_container()
    {
        foreach (var module in EngineRegistry.Modules)
        {
            var settings = new Dictionary<string, string> { ["tdk_probe_setting"] = "7" };
            await using var container = module.BuildContainer(new ContainerRequest("testdbkit/registry-probe:0", "secret", 4321, settings,
                PullPolicy.Never, new Dictionary<string, string>(), NullLogger.Instance));
            Assert.Equal("testdbkit/registry-probe:0", container.Image.FullName);
        }
    }

    /// <summary>The pool metric each engine names is the one its driver really publishes: a connection held open
    /// shows as in use under its application name, and no longer once disposed.</summary>
    [Theory]
    [MemberData(nameof(Keys))]
    public async Task Each_engine_supplies_the_pool_metric_its_driver_publishes(string key)
    {
        var module = EngineRegistry.ModuleFromKey(key);
        PoolUsage.Start();
        var server = await DbServer.SharedAsync(module.Engine);
        var app = "tdk-registry-" + Guid.NewGuid().ToString("N")[..8];
        var cs = module.Dialect.WithApplicationName(server.AdminConnectionString, app);
        Assert.Equal(0, PoolUsage.InUse(module.Engine, app));
        await using (var connection = module.Dialect.CreateConnection(cs))
        {
            await connection.OpenAsync();
            Assert.Equal(1, PoolUsage.InUse(module.Engine, app));
        }

        Assert.Equal(0, PoolUsage.InUse(module.Engine, app));
        module.Dialect.ClearPool(cs);
    }

    /// <summary>The flavour is asked of the server (MariaDB here, with the live lock list the kit installs on its own
    /// servers) and remembered: the second question costs no round trip and gives the same answer.</summary>
    [Theory]
    [MemberData(nameof(Keys))]
    public async Task Each_engine_tells_its_servers_flavour_once_per_server(string key)
    {
        var module = EngineRegistry.ModuleFromKey(key);
        var server = await DbServer.SharedAsync(module.Engine);
        await using var admin = await server.OpenAdminConnectionAsync();
        var flavour = await module.FlavourOfAsync(admin, CancellationToken.None);
        var version = Convert.ToString(await admin.ScalarAsync("SELECT VERSION()"), System.Globalization.CultureInfo.InvariantCulture)!;
        var expected = module.Engine == DbEngine.PostgreSql ? ServerKind.PostgreSql
            : version.Contains("MariaDB", StringComparison.OrdinalIgnoreCase) ? ServerKind.MariaDb : ServerKind.MySql;
        Assert.Equal(expected, flavour.Kind);
        Assert.Equal(expected == ServerKind.MariaDb, flavour.HasRowCounters);
        Assert.True(flavour.StatementTimeoutCoversAll, $"{flavour}'s statement timeout stops any statement, not only SELECTs");
        if (expected == ServerKind.MariaDb)
        {
            Assert.True(flavour.ListsLocksLive, "the kit installs metadata_lock_info on the servers it starts");
        }

        await using var other = await server.OpenAdminConnectionAsync();
        Assert.Same(flavour, await module.FlavourOfAsync(other, CancellationToken.None));
    }
}
