using System.Data.Common;
using Microsoft.Extensions.Logging;
using TestDbKit.Engines;
using TestDbKit.Options;
using TestDbKit.Diagnostics;
using TestDbKit.Servers;

namespace TestDbKit;

/// <summary>
/// A real database server for tests: started by the kit from local binaries (the default), run in
/// Docker, or given as an external connection string. Dispose it to stop the server and delete its data.
/// </summary>
/// <example>
/// <code>
/// await using var server = await DbServer.StartAsync(DbEngine.PostgreSql);
/// await using var connection = await server.OpenAdminConnectionAsync();
/// </code>
/// </example>
public sealed class DbServer : IAsyncDisposable
{
    // The run-wide servers: one per engine and server options (the defaults: the one SharedAsync(engine) returns).
    private static readonly OnceCache<(DbEngine Engine, ServerKey Options), DbServer> SharedServers = new();

    private (string User, string Password)? _testUser;

    private DbServer(DbEngine engine, ServerInstance instance, bool isShared)
    {
        Engine = engine;
        Instance = instance;
        IsShared = isShared;
    }

    /// <summary>The engine this server runs.</summary>
    public DbEngine Engine { get; }

    /// <summary>The provider actually used (never <see cref="DbServerProvider.Auto"/>).</summary>
    public DbServerProvider Provider => Instance.Provider;

    /// <summary>A connection string for an administrator (PostgreSQL: <c>postgres</c> on database <c>postgres</c>;
    /// MySQL: <c>root</c>, no default database). It contains a password: do not log it.</summary>
    public string AdminConnectionString => Instance.AdminConnectionString;

    /// <summary>Whether this is the run-wide server from <see cref="SharedAsync"/>, which disposing does not stop.</summary>
    public bool IsShared { get; }

    /// <summary>Whether the kit started this server (Local or Docker) and may therefore stop, crash or freeze it.</summary>
    public bool IsOwned => Instance.IsOwned;

    internal ServerInstance Instance { get; }

    internal EngineDialect Dialect => EngineDialect.For(Engine);

    /// <summary>
    /// Starts (or, for <see cref="DbServerProvider.External"/>, reaches) a server of its own for the caller.
    /// </summary>
    /// <param name="engine">The engine to run.</param>
    /// <param name="options">Where the server comes from; defaults plus <c>TESTDBKIT_*</c> variables when null.</param>
    /// <param name="ct">Cancels the start; anything already started is stopped and deleted.</param>
    /// <exception cref="DbServerException">No provider could serve; the message says what was tried and how to fix it.</exception>
    public static async Task<DbServer> StartAsync(DbEngine engine, DbServerOptions? options = null, CancellationToken ct = default)
    {
        options ??= new DbServerOptions();
        var instance = await ServerFactory.CreateAsync(engine, options, ct).ConfigureAwait(false);
        var server = new DbServer(engine, instance, isShared: false);
        try
        {
            await server.CreateTestUserAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await instance.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return server;
    }

    /// <summary>
    /// The run-wide server for <paramref name="engine"/>: started once per test process on first use (safely,
    /// however many tests ask at once), with default options and <c>TESTDBKIT_*</c> variables, and stopped
    /// when the process exits. A failed start is not cached: the next call tries again.
    /// </summary>
    /// <param name="engine">The engine to run.</param>
    /// <param name="ct">Stops this caller's wait; the start itself goes on for the others.</param>
    public static Task<DbServer> SharedAsync(DbEngine engine, CancellationToken ct = default) =>
        SharedForAsync(engine, new DbServerOptions(), ct);

    /// <summary>The run-wide server for <paramref name="engine"/> and <paramref name="options"/>: tests whose options
    /// pick the same server (<see cref="ServerKey"/>: provider, image, binaries, ...) share one; the defaults pick
    /// the one <see cref="SharedAsync"/> returns. The first caller's logger and
    /// start budget are the ones used.</summary>
    internal static Task<DbServer> SharedForAsync(DbEngine engine, DbServerOptions options, CancellationToken ct) =>
        SharedServers.GetAsync((engine, ServerKey.Of(engine, options)), key => StartSharedAsync(key.Engine, options), ct);

    /// <summary>The administrator's connection string aimed at <paramref name="database"/>.</summary>
    public string ConnectionStringFor(string database)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(database);
        return Dialect.WithDatabase(AdminConnectionString, database);
    }

    /// <summary>Whether the kit's test sessions log in as a user without administrative rights (MySQL on every
    /// server the kit owns, the run's shared one included), so that the per-database settings the server's
    /// <c>init_connect</c> applies (and a global <c>read_only</c>) bind them.</summary>
    internal bool HasTestUser => _testUser is not null;

    /// <summary>The user test sessions log in as on a MySQL server the kit owns (see <see cref="CreateTestUserAsync"/>).</summary>
    internal const string TestUserName = "tdk_app";

    /// <summary>What the kit's test sessions connect with: the administrator, or on a MySQL server the kit owns a
    /// user with rights on the kit's databases only.</summary>
    internal string TestConnectionStringFor(string database)
    {
        var cs = ConnectionStringFor(database);
        return _testUser is { } user ? Dialect.WithUser(cs, user.User, user.Password) : cs;
    }

    /// <summary>A new, unopened connection of this engine's driver (Npgsql or MySqlConnector).</summary>
    /// <param name="connectionString">Defaults to <see cref="AdminConnectionString"/>.</param>
    public DbConnection CreateConnection(string? connectionString = null) => Dialect.CreateConnection(connectionString ?? AdminConnectionString);

    /// <summary>Closes every idle pooled connection of this engine's driver in this process, so the next
    /// open starts a new server session.</summary>
    public void ClearPools() => Dialect.ClearAllPools();

    /// <summary>Opens a new connection as the administrator.</summary>
    public Task<DbConnection> OpenAdminConnectionAsync(CancellationToken ct = default) => Dialect.OpenAsync(AdminConnectionString, ct);

    /// <summary>Stops the server and deletes its data (Local and Docker). Does nothing for a shared server,
    /// which lives until the process exits, or for an external one, which is not the kit's.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!IsShared)
        {
            await Instance.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Where the server is and which provider runs it; never includes the password.</summary>
    public override string ToString() => Instance.Description;

    /// <summary>On a MySQL server the kit owns (the run's shared one too), tests log in as a user with rights
    /// on the kit's databases only: MySQL runs <c>init_connect</c>, which applies the kit's per-database session
    /// settings, only for users without administrative rights, and its <c>read_only</c> does not bind
    /// administrators either. The user may also run the settings procedure (see the MySQL dialect).</summary>
    private async Task CreateTestUserAsync(CancellationToken ct)
    {
        if (!IsOwned)
        {
            return;
        }

        var user = (User: TestUserName, Password: Diagnostics.Secrets.NewPassword());
        if (Dialect.CreateTestUserSql(user.User, user.Password) is not { } sql)
        {
            return;
        }

        IAsyncDisposable? held = null;
        try
        {
            if (!OperatingSystem.IsWindows() && Instance.Kept is { } kept)
            {
                held = await kept.LockForTestUserAsync(ct).ConfigureAwait(false);
                if (kept.TestPassword is { } keptPassword)
                {
                    // A kept server has the user already; a new password would lock out the runs using it now.
                    _testUser = (TestUserName, keptPassword);
                    return;
                }
            }

            var since = Sessions.SessionTrace.Start();
            await using var admin = await OpenAdminConnectionAsync(ct).ConfigureAwait(false);
            await admin.ExecuteAsync(sql, ct).ConfigureAwait(false);
            if (!OperatingSystem.IsWindows())
            {
                Instance.Kept?.SaveTestPassword(user.Password);
            }

            _testUser = user;
            Sessions.SessionTrace.Lap("server: test user", ref since);
        }
        finally
        {
            if (held is not null)
            {
                await held.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Starts a run-wide server (kept between runs when the options ask for reuse) without caching it: the
    /// cached one is <see cref="SharedForAsync"/>'s; the benchmark measures a run's start with it.</summary>
    internal static async Task<DbServer> StartSharedAsync(DbEngine engine, DbServerOptions options)
    {
        var instance = await ServerFactory.CreateAsync(engine, options, CancellationToken.None, shared: true).ConfigureAwait(false);
        var server = new DbServer(engine, instance, isShared: true);
        try
        {
            await server.CreateTestUserAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch
        {
            await instance.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return server;
    }
}

/// <summary>Chooses the provider and turns its failures into one clear <see cref="DbServerException"/>.</summary>
internal static class ServerFactory
{
    // shared: the run-wide server, the only one a run may keep for later runs (DbServerOptions.Reuse).
    public static async Task<ServerInstance> CreateAsync(DbEngine engine, DbServerOptions options, CancellationToken ct, Func<int>? portSource = null, bool shared = false)
    {
        ThreadPoolFloor.Ensure(); // every server start, the kit's first async work in a process
        var since = Sessions.SessionTrace.Start();
        var instance = await StartAsync(engine, options, portSource, shared, ct).ConfigureAwait(false);
        Sessions.SessionTrace.Lap("server: start", ref since);
        if (!instance.IsOwned)
        {
            return instance;
        }

        try
        {
            await EngineDialect.For(engine).PrepareOwnedServerAsync(instance.AdminConnectionString, ct).ConfigureAwait(false);
            Sessions.SessionTrace.Lap("server: prepare (owned)", ref since);
            return instance;
        }
        catch
        {
            await instance.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<ServerInstance> StartAsync(DbEngine engine, DbServerOptions options, Func<int>? portSource, bool shared, CancellationToken ct)
    {
        var dialect = EngineDialect.For(engine);
        var logger = Diagnostics.KitLogger.For(options.LoggerFactory, "TestDbKit");
        // Code wins; the variables fill in what code left unset (TESTDBKIT_PROVIDER decides what it left at Auto).
        var resolved = ResolvedServerOptions.Of(engine, options);
        if (resolved.ProviderError is { } providerError)
        {
            throw new DbServerException(engine, DbServerProvider.Auto, providerError);
        }

        var provider = resolved.Provider;
        ValidateSettings(engine, provider, options.Settings);
        var keep = Keep(engine, resolved, shared, logger);
        try
        {
            switch (provider)
            {
                case DbServerProvider.Local:
                    if (OperatingSystem.IsWindows() || !OperatingSystem.IsLinux())
                    {
                        throw new ServerStartException("The Local provider runs on Linux (it watches its servers through /proc); elsewhere use Docker or External.");
                    }

                    return await StartLocalAsync(LocalRecipe.Locate(engine, resolved.BinDirectory, resolved.Flavour), resolved, keep, logger, portSource, ct).ConfigureAwait(false);
                case DbServerProvider.Docker:
                    return await DockerServer.StartAsync(engine, resolved, logger, ct).ConfigureAwait(false);
                case DbServerProvider.External:
                    var (cs, source) = resolved.ConnectionString
                        ?? throw new ServerStartException(
                            $"The External provider needs a connection string: set {KitEnvironment.ExternalVariable(engine)} or DbServerOptions.ConnectionString.");
                    return await ConnectExternalAsync(dialect, cs, source, options, ct).ConfigureAwait(false);
                default:
                    return await AutoAsync(engine, resolved, keep, logger, portSource, ct).ConfigureAwait(false);
            }
        }
        catch (ServerStartException e)
        {
            throw new DbServerException(engine, provider, e.Message);
        }
    }

    private static async Task<ServerInstance> AutoAsync(DbEngine engine, ResolvedServerOptions resolved, bool keep, ILogger logger, Func<int>? portSource, CancellationToken ct)
    {
        var dialect = EngineDialect.For(engine);
        if (resolved.ConnectionString is var (cs, source))
        {
            LogNotKept(keep, DbServerProvider.External, logger);
            return await ConnectExternalAsync(dialect, cs, source, resolved.Options, ct).ConfigureAwait(false);
        }

        var tried = new List<string>();
        LocalRecipe? recipe = null;
        if (OperatingSystem.IsWindows() || !OperatingSystem.IsLinux())
        {
            tried.Add("Local: runs on Linux only (it watches its servers through /proc).");
        }
        else
        {
            try
            {
                recipe = LocalRecipe.Locate(engine, resolved.BinDirectory, resolved.Flavour);
            }
            catch (ServerStartException e)
            {
                tried.Add("Local: " + e.Message);
            }
        }

        if (recipe is not null && !OperatingSystem.IsWindows())
        {
            // Binaries exist: a failure to start them is the error to report, not a reason to try Docker.
            try
            {
                return await StartLocalAsync(recipe, resolved, keep, logger, portSource, ct).ConfigureAwait(false);
            }
            catch (ServerStartException e)
            {
                throw new DbServerException(engine, DbServerProvider.Local, e.Message);
            }
        }

        if (await DockerProbe.WhyUnavailableAsync(ct: ct).ConfigureAwait(false) is { } why)
        {
            tried.Add($"Docker: {why}. Start an engine (Debian: scripts/docker-setup.sh) or set DOCKER_HOST.");
        }
        else
        {
            try
            {
                LogNotKept(keep, DbServerProvider.Docker, logger);
                return await DockerServer.StartAsync(engine, resolved, logger, ct).ConfigureAwait(false);
            }
            catch (ServerStartException e)
            {
                throw new DbServerException(engine, DbServerProvider.Docker, e.Message);
            }
        }

        tried.Add($"External: {KitEnvironment.ExternalVariable(engine)} is not set. Set it to a connection string of a server where the kit may create databases.");
        throw new DbServerException(
            engine,
            DbServerProvider.Auto,
            $"No provider can serve a {dialect.Name} server here. Tried:\n - " + string.Join("\n - ", tried) +
            "\nThe quickest fix on Debian/Ubuntu: sudo scripts/install-servers.sh (installs PostgreSQL and MariaDB).");
    }

    /// <summary>Whether this start may keep its server for later runs, so far as the options and the caller tell (Auto
    /// may still pick another provider than Local); says once why a requested reuse is ignored.</summary>
    /// <exception cref="DbServerException">TESTDBKIT_REUSE or TESTDBKIT_REUSE_IDLE is unreadable.</exception>
    private static bool Keep(DbEngine engine, ResolvedServerOptions resolved, bool shared, ILogger logger)
    {
        var reuse = resolved.Reuse;
        if (reuse.Error is { } error)
        {
            throw new DbServerException(engine, resolved.Provider, error);
        }

        if (reuse.WhyOff is { } why)
        {
            Log.ReuseIgnored(logger, why);
        }
        else if (reuse.On && !shared)
        {
            Log.ReuseIgnored(logger, "a server of the caller's own (DbServer.StartAsync, [DedicatedServer]) is never kept: server faults may crash it");
        }

        return reuse.On && shared;
    }

    private static void LogNotKept(bool keep, DbServerProvider provider, ILogger logger)
    {
        if (keep)
        {
            Log.ReuseIgnored(logger, $"the {provider} provider is chosen: only a Local server is kept between runs");
        }
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static Task<LocalServer> StartLocalAsync(LocalRecipe recipe, ResolvedServerOptions resolved, bool keep, ILogger logger, Func<int>? portSource, CancellationToken ct) =>
        keep
            ? Servers.Reuse.ServerKeeping.StartAsync(recipe, resolved, logger, portSource, ct)
            : LocalServer.StartAsync(recipe, resolved, logger, portSource, ct);

    private static Task<ExternalServer> ConnectExternalAsync(EngineDialect dialect, string cs, string source, DbServerOptions options, CancellationToken ct)
    {
        if (options.Settings.Count > 0)
        {
            throw new ServerStartException(
                $"Server settings ({string.Join(", ", options.Settings.Keys)}) can only be applied to a server the kit starts; " +
                $"the {dialect.Name} server from {source} is external. Use the Local or Docker provider, or set them on that server.");
        }

        return ExternalServer.ConnectAsync(dialect, cs, source, options.StartTimeout, ct);
    }

    private static void ValidateSettings(DbEngine engine, DbServerProvider provider, IReadOnlyDictionary<string, string> settings)
    {
        foreach (var (name, value) in settings)
        {
            if (!EngineDialect.IsValidSettingName(name) || !EngineDialect.IsValidSettingValue(value))
            {
                throw new DbServerException(engine, provider,
                    $"The server setting '{name}' is not valid: names are letters, digits, '_', '.' or '-', and values have no control characters.");
            }
        }
    }
}
