using System.Data.Common;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Respawn;
using TestDbKit.Databases;
using TestDbKit.Diagnostics;
using TestDbKit.Engines;

namespace TestDbKit;

/// <summary>
/// Databases with one schema on one server, leased to one test at a time and made clean for the next.
/// The schema is built once (a template on PostgreSQL), databases are created ahead of need, and a
/// database that cannot be reset is dropped and replaced, never leased again dirty.
/// </summary>
/// <example>
/// <code>
/// await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = CreateTablesAsync });
/// await using var db = await pool.LeaseAsync();
/// await using var connection = await db.OpenConnectionAsync();
/// </code>
/// </example>
public sealed partial class DatabasePool : IAsyncDisposable
{
    private readonly DbServer _server;
    private readonly DatabasePoolOptions _options;
    private readonly ILogger _logger;
    private readonly int _max;
    private readonly SemaphoreSlim _leases;
    private readonly SemaphoreSlim _creating = new(1, 1);
    private readonly Channel<PooledDatabase> _ready = Channel.CreateUnbounded<PooledDatabase>();
    private readonly List<Task> _background = [];
    private readonly CancellationTokenSource _disposing = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _alive = new();

    // Per database, the connection strings tests were handed (shaped by TestDbOptions.ConnectionString, and of each
    // session generation): each is a driver pool of its own, cleared when the database's sessions end or it is dropped.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, System.Collections.Concurrent.ConcurrentDictionary<string, int>> _shaped = new();
    private TaskCompletionSource _capacityFreed = NewSignal();
    private string? _template;
    private string? _keptHash; // the schema code's hash, where the server is kept between runs and it could be computed
    private bool _templateKept; // the template outlives the pool: later runs use it
    private int _count; // databases alive or being created: leased + ready + in flight
    private int _disposed;

    private DatabasePool(DbServer server, DatabasePoolOptions options)
    {
        _server = server;
        _options = options;
        _logger = KitLogger.For(options.LoggerFactory, "TestDbKit.DatabasePool");
        _max = options.EffectiveMaxDatabases;
        _leases = new SemaphoreSlim(_max, _max);
    }

    /// <summary>The server the databases live on.</summary>
    public DbServer Server => _server;

    /// <summary>How tests are kept apart.</summary>
    public IsolationMode Isolation => _options.Isolation;

    /// <summary>How many databases may be leased at once.</summary>
    internal int MaxDatabases => _max;

    /// <summary>The template database (PostgreSQL), for tests.</summary>
    internal string? TemplateName => _template;

    /// <summary>How many more leases would be granted now without waiting.</summary>
    internal int FreeLeases => _leases.CurrentCount;

    /// <summary>Whether resets use the kit's change tracking (false: Respawn, where tracking could not be installed).</summary>
    public bool IsTracking { get; private set; }

    /// <summary>How the tracking finds written tables; meaningful while <see cref="IsTracking"/>.</summary>
    internal ChangeMarks Marks { get; private set; }

    internal EngineDialect Dialect => _server.Dialect;

    /// <summary>
    /// Builds the schema once, sweeps databases that crashed runs left behind, and creates the first database.
    /// </summary>
    /// <param name="server">Where the databases live.</param>
    /// <param name="options">The schema and the isolation mode.</param>
    /// <param name="ct">Cancels the set-up; what was created is dropped.</param>
    /// <exception cref="InvalidOperationException">The schema could not be created; the message names the database and the error.</exception>
    public static async Task<DatabasePool> CreateAsync(DbServer server, DatabasePoolOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxDatabases is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxDatabases, "MaxDatabases must be at least 1.");
        }

        PoolUsage.Start(); // before any test connection, so the leak check sees every one of them
        var pool = new DatabasePool(server, options);
        try
        {
            // The sweep of other runs' databases works beside the template's build (it never touches this run's
            // databases), and is over before the pool is handed out.
            var since = Sessions.SessionTrace.Start();
            if (!server.IsOwned)
            {
                // Before this run's first database: from then on, other runs' janitors see that this run is alive.
                await RunLiveness.HoldAsync(server, pool._logger, ct).ConfigureAwait(false);
            }

            var sweep = Janitor.SweepOnceAsync(server, options.StaleDatabaseAge, pool._logger);
            var keptTemplate = server.Dialect.HasTemplateDatabases && await pool.UseKeptTemplateAsync(ct).ConfigureAwait(false);
            Sessions.SessionTrace.Lap("pool: kept template looked up", ref since);
            if (server.Dialect.HasTemplateDatabases && !keptTemplate)
            {
                pool._template = DatabaseNames.New('t');
                await pool.CreateDatabaseAsync(pool._template, template: null, isTemplate: true, ct).ConfigureAwait(false);
                await pool.ReleaseTemplateAsync(pool._template, ct).ConfigureAwait(false);
                await pool.KeepTemplateAsync(ct).ConfigureAwait(false);
                Sessions.SessionTrace.Lap("pool: template", ref since);
            }

            // The first database proves the schema works, so a broken schema fails here, once, clearly.
            Interlocked.Increment(ref pool._count);
            var first = await pool.NewDatabaseAsync(ct).ConfigureAwait(false);
            Sessions.SessionTrace.Lap("pool: first database", ref since);
            await sweep.WaitAsync(ct).ConfigureAwait(false);
            Sessions.SessionTrace.Lap("pool: janitor (beside the build)", ref since);
            pool._ready.Writer.TryWrite(first);
            return pool;
        }
        catch
        {
            await pool.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Leases a database no other test is using. Waits when <see cref="DatabasePoolOptions.MaxDatabases"/>
    /// are out. Dispose the lease to give it back; the pool then makes it clean for the next test.
    /// </summary>
    public ValueTask<TestDatabase> LeaseAsync(CancellationToken ct = default) => LeaseAsync(shape: null, output: null, ct);

    /// <summary>Leases a database whose connection string is shaped by <paramref name="shape"/> (see
    /// <see cref="TestDbOptions.ConnectionString"/>), for the test whose output is <paramref name="output"/>.</summary>
    internal async ValueTask<TestDatabase> LeaseAsync(Action<DbConnectionStringBuilder>? shape, Sessions.TestOutput? output, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        await _leases.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var database = await TakeAsync(ct).ConfigureAwait(false);
            TopUp();
            try
            {
                await SettleIfMarkedAsync(database, ct).ConfigureAwait(false); // DatabasePool.Sessions.cs
                return new TestDatabase(this, database, TestConnectionString(database.Name, shape), CurrentApplicationName(database.Name), output);
            }
            catch
            {
                // The user's shape failed before anyone used the database: it is still clean.
                if (!_ready.Writer.TryWrite(database))
                {
                    await ForgetAsync(database).ConfigureAwait(false);
                }

                throw;
            }
        }
        catch
        {
            _leases.Release();
            throw;
        }
    }

    /// <summary>Drops every database of this pool, leased ones included, and its template.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _disposing.CancelAsync().ConfigureAwait(false);
        while (true)
        {
            // Until none is left: a return that began before the pool was disposed may start its reset meanwhile.
            Task[] pending;
            lock (_background)
            {
                _background.RemoveAll(t => t.IsCompleted);
                pending = [.. _background];
            }

            if (pending.Length == 0)
            {
                break;
            }

            await Task.WhenAll(pending.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default))).ConfigureAwait(false);
        }

        _ready.Writer.TryComplete();
        foreach (var name in _alive.Keys.Append(_templateKept ? null : _template).OfType<string>())
        {
            await DropAsync(name, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>On a server kept between runs: takes the template a run built from the same schema code, if it is still
    /// there, with what that run learnt building it. Computes the hash either way (<see cref="KeepTemplateAsync"/>).</summary>
    private async Task<bool> UseKeptTemplateAsync(CancellationToken ct)
    {
        if (OperatingSystem.IsWindows() || _server.Instance.Kept is not { } kept)
        {
            return false;
        }

        if (_options.UseRespawn)
        {
            Log.TemplateNotKept(_logger, "resets use Respawn");
            return false;
        }

        var hook = (Delegate?)_options.CreateSchema ?? _options.BuildSchema;
        _keptHash = Servers.Reuse.SchemaCodeHash.Of(hook, $"{Dialect.Key}|triggers={_options.TrackWithTriggers}", out var why, _options.SchemaFiles);
        if (_keptHash is null)
        {
            Log.TemplateNotKept(_logger, why ?? "the schema code's hash could not be computed");
            return false;
        }

        // Under the state's lock, and marked as this run's before it is looked up: a run that evicts old templates
        // keeps those a live run copies from.
        await using var held = await LockKeptAsync(kept, ct).ConfigureAwait(false);
        if (held is null)
        {
            return false;
        }

        kept.UseTemplate(_keptHash);
        if (kept.FindTemplate(_keptHash) is not { } template)
        {
            return false;
        }

        await using (var admin = await _server.OpenAdminConnectionAsync(ct).ConfigureAwait(false))
        {
            var names = await admin.ReadColumnAsync(Dialect.ListDatabasesSql(template.Name), r => r.GetString(0), ct).ConfigureAwait(false);
            if (!names.Contains(template.Name, StringComparer.Ordinal))
            {
                kept.ForgetTemplate(_keptHash);
                return false;
            }
        }

        _template = template.Name;
        _templateKept = true;
        Marks = template.Marks;
        _fingerprint = template.Fingerprint;
        EmptySchema = template.EmptySchema;
        IsTracking = true;
        Log.ReusedTemplate(_logger, template.Name, _keptHash);
        return true;
    }

    /// <summary>On a server kept between runs: keeps the template just built for later runs (a tracked one only: a
    /// Respawn fallback is decided per database), and drops those beyond the few most recently used.</summary>
    private async Task KeepTemplateAsync(CancellationToken ct)
    {
        if (OperatingSystem.IsWindows() || _server.Instance.Kept is not { } kept || _keptHash is null || _template is null || !IsTracking)
        {
            return;
        }

        await using var held = await LockKeptAsync(kept, ct).ConfigureAwait(false);
        if (held is null)
        {
            return; // not kept: dropped with the pool
        }

        kept.UseTemplate(_keptHash);
        kept.SaveTemplate(_keptHash, new Servers.Reuse.KeptTemplate(_template, Marks, _fingerprint, EmptySchema));
        _templateKept = true;
        var inUse = kept.TemplatesOfOtherLiveRuns();
        foreach (var (hash, old) in kept.Templates().Skip(Servers.Reuse.KeptServer.TemplatesKept).Where(t => !inUse.Contains(t.Hash)))
        {
            kept.ForgetTemplate(hash);
            await DropAsync(old.Name, ct).ConfigureAwait(false);
            Log.DroppedOldTemplate(_logger, old.Name, hash);
        }
    }

    /// <summary>The kept server's state lock, or null when another run holds it too long (a slow start of a kept
    /// server): this run then builds and uses a template of its own rather than fail.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private async Task<IAsyncDisposable?> LockKeptAsync(Servers.Reuse.KeptServer kept, CancellationToken ct)
    {
        try
        {
            return await kept.LockAsync(ct).ConfigureAwait(false);
        }
        catch (Servers.ServerStartException e)
        {
            Log.KeptTemplateLockBusy(_logger, e.Message);
            return null;
        }
    }

    /// <summary>A ready database, a new one where there is room, or the next one given back.</summary>
    private async Task<PooledDatabase> TakeAsync(CancellationToken ct)
    {
        while (true)
        {
            // Read the signal first: room freed after this line still wakes the wait below.
            var roomFreed = Volatile.Read(ref _capacityFreed).Task;
            if (_ready.Reader.TryRead(out var ready))
            {
                return ready;
            }

            if (TryReserve())
            {
                try
                {
                    return await NewDatabaseAsync(ct).ConfigureAwait(false);
                }
                catch
                {
                    FreeRoom();
                    throw;
                }
            }

            // Every database is leased, being reset or being created: wait for one, or for room to make one
            // (a database that was dropped, or a creation that failed).
            var readable = _ready.Reader.WaitToReadAsync(ct).AsTask();
            await Task.WhenAny(readable, roomFreed.WaitAsync(ct)).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
            ObjectDisposedException.ThrowIf(readable.IsCompletedSuccessfully && !readable.Result, this);
        }
    }

    private void FreeRoom()
    {
        Interlocked.Decrement(ref _count);
        Interlocked.Exchange(ref _capacityFreed, NewSignal()).TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Makes a returned database clean and ready, or replaces it.</summary>
    /// <param name="database">The database given back.</param>
    /// <param name="beforeReset">Undoes the lease's faults and rolls back its transactions; always runs before this
    /// method returns, so what the test set off ends with the test.</param>
    /// <param name="resetInBackground">Empties the database (and settles its sessions) after this method returned,
    /// while the next test runs on another database: the base classes' way. The lease's place comes back only once
    /// the database is clean or dropped, so nobody is ever handed it dirty; with one place, the next lease waits.
    /// False: empties it before returning (<see cref="TestDatabase.DisposeAsync"/>, whose callers may count on that).</param>
    internal async Task ReturnAsync(PooledDatabase database, Func<Task> beforeReset, bool resetInBackground = false)
    {
        var since = Sessions.SessionTrace.Start();
        try
        {
            // Faults are undone and transactions rolled back in every mode: a lock held by a fault would
            // otherwise block even the DROP of a clone.
            await beforeReset().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Whatever went wrong, the database is not known to be clean, and its place must come back.
            Log.ResetFailed(_logger, database.Name, e.Message);
            await ForgetAsync(database).ConfigureAwait(false);
            GiveBackPlace();
            return;
        }

        Sessions.SessionTrace.Lap("return: undo faults, roll back", ref since);
        if (_options.Isolation == IsolationMode.Clone || _disposed != 0)
        {
            await ForgetAsync(database).ConfigureAwait(false);
            GiveBackPlace();
            return;
        }

        if (resetInBackground)
        {
            // The test is over: the server empties its database while the client runs the next test.
            RunInBackground(_ => CleanAsync(database));
            return;
        }

        await CleanAsync(database).ConfigureAwait(false);
    }

    /// <summary>Resets a returned database and settles its sessions, then puts it back as ready, or replaces it when it
    /// cannot be made clean; gives the lease's place back either way.</summary>
    private async Task CleanAsync(PooledDatabase database)
    {
        var since = Sessions.SessionTrace.Start();
        try
        {
            await ResetAsync(database, CancellationToken.None, returned: true).ConfigureAwait(false);
            Sessions.SessionTrace.Lap("return: reset", ref since);
            await SettleSessionsAsync(database, CancellationToken.None).ConfigureAwait(false); // DatabasePool.Sessions.cs
            Sessions.SessionTrace.Lap("return: settle sessions", ref since);
            if (!_ready.Writer.TryWrite(database))
            {
                await ForgetAsync(database).ConfigureAwait(false); // the pool was disposed meanwhile
            }
        }
        catch (SchemaChangedException e)
        {
            // Expected (EnsureDeleted/EnsureCreated per test, a migration in a test): not a failure.
            LogSchemaChanged(_logger, database.Name, e.Reason);
            try
            {
                // A session the test left in a transaction would hold a metadata lock that blocks MySQL's DROP.
                await EndLeftoverSessionsAsync(database.Name, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception end) when (end is DbException or InvalidOperationException or IOException or TimeoutException or System.Net.Sockets.SocketException)
            {
                Log.DropFailed(_logger, database.Name, end.Message); // the drop below tries anyway
            }

            await ForgetAsync(database).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Any failure, expected or not (it runs in the background, where nobody else would see it): a database
            // that could not be made clean is replaced, and its place comes back, so no later lease waits forever.
            Log.ResetFailed(_logger, database.Name, e.Message);
            await ForgetAsync(database).ConfigureAwait(false);
        }
        finally
        {
            GiveBackPlace();
        }
    }

    private void GiveBackPlace()
    {
        _leases.Release();
        TopUp();
    }

    /// <summary>Makes a database clean: the kit's tracked reset, or Respawn where tracking could not be installed.</summary>
    /// <param name="database">The database to make clean.</param>
    /// <param name="ct">Cancels the reset.</param>
    /// <param name="returned">The lease was given back, so every session left on the database is a leftover
    /// (false: a test resets in the middle, and keeps its connections).</param>
    internal async Task ResetAsync(PooledDatabase database, CancellationToken ct, bool returned = false)
    {
        if (database.Respawner is { } respawner)
        {
            if (returned)
            {
                await EndLeftoverSessionsAsync(database.Name, ct).ConfigureAwait(false);
            }

            await using var connection = await OpenAsync(RespawnConnectionString(database.Name), ct).ConfigureAwait(false);
            await respawner.ResetAsync(connection).ConfigureAwait(false);
            return;
        }

        await ResetTrackedAsync(database, ct).ConfigureAwait(false);
    }

    /// <summary>Respawn only deletes: a session the test left inside a transaction would hold its row locks, and
    /// the deletes would wait for it until the command timed out and the database was replaced (the tracked
    /// resets end such sessions themselves). Once the lease is back, ends every session of the database through
    /// the server's account, before the reset opens its own; then the pooled connections, some of them now dead,
    /// are dropped so that the reset and the next test open live ones.</summary>
    private async Task EndLeftoverSessionsAsync(string name, CancellationToken ct)
    {
        // The idle sessions of the pools the kit knows close with a goodbye first; what is killed below is what other
        // pools hold (a provider's own data source) or the test left open: a new session generation then.
        ClearTestPools(name);
        Dialect.ClearPool(RespawnConnectionString(name));
        ForgetSeenSessions(name);
        int ended;
        await using (var admin = await _server.OpenAdminConnectionAsync(ct).ConfigureAwait(false))
        {
            ended = await Dialect.EndSessionsAsync(admin, name, Engines.SessionFilter.All, ct).ConfigureAwait(false);
        }

        if (ended > 0)
        {
            MarkSessionsLost(name);
            // The reset's own pooled session may have been among them.
            ClearTestPools(name);
            Dialect.ClearPool(RespawnConnectionString(name));
        }
    }

    private bool TryReserve()
    {
        while (true)
        {
            var count = Volatile.Read(ref _count);
            if (count >= _max)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _count, count + 1, count) == count)
            {
                return true;
            }
        }
    }

    /// <summary>Keeps one database ready ahead of the next lease, in the background.</summary>
    private void TopUp()
    {
        if (_disposed != 0 || _ready.Reader.Count > 0 || !TryReserve())
        {
            return;
        }

        RunInBackground(async ct =>
        {
            PooledDatabase database;
            try
            {
                database = await NewDatabaseAsync(ct).ConfigureAwait(false);
            }
            catch
            {
                FreeRoom(); // a waiting lease may now try itself, and see the error
                throw;
            }

            if (!_ready.Writer.TryWrite(database))
            {
                await DropAsync(database.Name, CancellationToken.None).ConfigureAwait(false); // disposed meanwhile
            }
        });
    }

    /// <summary>Drops a database and frees its place for a new one. A clone is dropped in the background
    /// so the test does not wait for it; a pool being disposed drops at once.</summary>
    private Task ForgetAsync(PooledDatabase database)
    {
        if (_disposed != 0)
        {
            return DropAsync(database.Name, CancellationToken.None);
        }

        RunInBackground(async _ =>
        {
            try
            {
                await DropAsync(database.Name, CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                FreeRoom();
            }

            TopUp();
        });
        return Task.CompletedTask;
    }

    private void RunInBackground(Func<CancellationToken, Task> work)
    {
        // Background work outlives the test that caused it: it must not write to that test's output.
        using var noFlow = ExecutionContext.SuppressFlow();
        var task = Task.Run(async () =>
        {
            try
            {
                await work(_disposing.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_disposing.IsCancellationRequested)
            {
                // The pool is going away.
            }
            catch (Exception e) when (e is DbException or InvalidOperationException or IOException or TimeoutException or System.Net.Sockets.SocketException)
            {
                Log.ResetFailed(_logger, "(background)", e.Message);
            }
        });
        lock (_background)
        {
            _background.RemoveAll(t => t.IsCompleted);
            _background.Add(task);
        }
    }

    /// <summary>Creates a database for leasing; the caller has reserved its place.</summary>
    private async Task<PooledDatabase> NewDatabaseAsync(CancellationToken ct)
    {
        var name = DatabaseNames.New(_options.Isolation == IsolationMode.Clone ? 'c' : 'd');
        _alive[name] = 0;
        var respawner = await CreateDatabaseAsync(name, _template, isTemplate: false, ct).ConfigureAwait(false);
        return new PooledDatabase(name, ControlConnectionString(name), respawner);
    }

    /// <summary>
    /// Creates <paramref name="name"/>: a copy of <paramref name="template"/> (PostgreSQL), or an empty
    /// database on which the schema runs and tracking is installed. Returns a Respawner when tracking
    /// could not be installed.
    /// </summary>
    private async Task<Respawner?> CreateDatabaseAsync(string name, string? template, bool isTemplate, CancellationToken ct)
    {
        await _creating.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await using var admin = await _server.OpenAdminConnectionAsync(ct).ConfigureAwait(false);
            if (template is null)
            {
                await admin.ExecuteAsync(Dialect.CreateDatabaseSql(name, template), ct).ConfigureAwait(false);
            }
            else
            {
                await CreateFromTemplateAsync(admin, name, template, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            _creating.Release();
        }

        try
        {
            if (template is not null)
            {
                return IsTracking ? null : await CreateRespawnerAsync(name, ct).ConfigureAwait(false);
            }

            // A connection outside the pool: PostgreSQL copies a template only while nobody is connected to it.
            // Tagged as the kit's own, so a kill-all fault running meanwhile spares it (PostgreSQL).
            var setup = SchemaConnectionString(name);
            await using (var connection = await OpenAsync(setup, ct).ConfigureAwait(false))
            {
                await RunSchemaHookAsync(name, setup, connection, ct).ConfigureAwait(false);

                if (!_options.UseRespawn)
                {
                    try
                    {
                        await InstallTrackingAsync(connection, name, ct).ConfigureAwait(false);
                        return null;
                    }
                    catch (DbException e)
                    {
                        Log.TrackingUnavailable(_logger, name, e.Message);
                    }
                }
            }

            IsTracking = false;
            return isTemplate ? null : await CreateRespawnerAsync(name, ct).ConfigureAwait(false);
        }
        catch
        {
            await DropAsync(name, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    private async Task<Respawner> CreateRespawnerAsync(string name, CancellationToken ct)
    {
        await using var connection = await OpenAsync(RespawnConnectionString(name), ct).ConfigureAwait(false);
        return await Respawner.CreateAsync(connection, Dialect.RespawnOptions(name)).ConfigureAwait(false);
    }

    private async Task DropAsync(string name, CancellationToken ct)
    {
        _alive.TryRemove(name, out _);
        try
        {
            Dialect.ClearPool(RespawnConnectionString(name));
            ClearTestPools(name);
            _shaped.TryRemove(name, out _);
            _sessions.TryRemove(name, out _);
            await using var admin = await _server.OpenAdminConnectionAsync(ct).ConfigureAwait(false);
            await admin.ExecuteAsync(Dialect.DropDatabaseSql(name), ct).ConfigureAwait(false);
            if (_server.HasTestUser && Dialect.ForgetDatabaseSettingsSql(name) is { } forget)
            {
                await admin.ExecuteAsync(forget, ct).ConfigureAwait(false); // a later database of this name starts clean
            }
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or IOException or System.Net.Sockets.SocketException)
        {
            // The janitor of a later run removes it.
            Log.DropFailed(_logger, name, e.Message);
        }
    }

    /// <summary>The kit's own sessions on a database: resets run here, and faults never touch them.</summary>
    private string ControlConnectionString(string name) => Dialect.ControlConnectionString(_server.AdminConnectionString, name);

    /// <summary>Respawn works inside the database it clears.</summary>
    private string RespawnConnectionString(string name) =>
        Dialect.ForControl(Dialect.WithApplicationName(_server.ConnectionStringFor(name), EngineDialect.ControlApplicationName));

    /// <summary>What tests connect with: tagged with the database's name, so each database has pools of its
    /// own and the drivers' metrics tell how many of its connections are out (see <see cref="PoolUsage"/>).</summary>
    internal string TestConnectionString(string name) => TestConnectionString(name, shape: null);

    /// <summary>What tests connect with, shaped first by <paramref name="shape"/> (the user's driver options); the
    /// kit's tag and transaction settings are applied after it, so the shape cannot undo them.</summary>
    /// <exception cref="InvalidOperationException"><paramref name="shape"/> threw; the message says what to check.</exception>
    internal string TestConnectionString(string name, Action<DbConnectionStringBuilder>? shape)
    {
        var cs = _server.TestConnectionStringFor(name);
        if (shape is not null)
        {
            cs = ConnectionStrings.Shape(Dialect.CreateBuilder(cs), shape, Dialect.Name);
        }

        var generation = SessionGeneration(name);
        cs = Dialect.WithApplicationName(cs, TestApplicationName(name, generation));
        cs = _options.Isolation == IsolationMode.Transaction ? Dialect.ForAmbientTransaction(cs) : cs;
        _shaped.GetOrAdd(name, _ => new()).TryAdd(cs, generation);
        return cs;
    }

    /// <summary>Clears the driver pools of every connection string tests of <paramref name="name"/> used;
    /// <paramref name="forgetOld"/>: and forgets those of earlier session generations, never handed out again.</summary>
    private void ClearTestPools(string name, bool forgetOld = false)
    {
        Dialect.ClearPool(TestConnectionString(name));
        if (_shaped.TryGetValue(name, out var shaped))
        {
            var current = SessionGeneration(name);
            foreach (var (cs, generation) in shaped)
            {
                Dialect.ClearPool(cs);
                if (forgetOld && generation != current)
                {
                    shaped.TryRemove(cs, out _);
                }
            }
        }
    }

    internal Task<DbConnection> OpenAsync(string connectionString, CancellationToken ct) => Dialect.OpenAsync(connectionString, ct);
}

/// <summary>One database of a pool.</summary>
internal sealed record PooledDatabase(string Name, string ControlConnectionString, Respawner? Respawner);
