using System.Collections.Concurrent;
using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using TestDbKit.Tests.Common;

namespace TestDbKit.EntityFrameworkCore.Tests;

/// <summary>What the EnsureCreated/EnsureDeleted and objects tests share: pools of one database (so the next lease
/// is the database the last test used, or its replacement), a logger that keeps what the pool said, and catalog
/// look-ups.</summary>
internal static class EnsureSupport
{
    /// <summary>A pool of one database on the run's shared server; <paramref name="log"/> keeps its messages.</summary>
    public static async Task<DatabasePool> PoolAsync(DbEngine engine, RecordingLogs log, Func<DbConnection, Task>? schema = null) =>
        await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions
        {
            CreateSchema = schema,
            MaxDatabases = 1,
            LoggerFactory = log,
        });

    /// <summary>Builds the model in the schema hook with EF's <c>EnsureCreated</c> on the kit's open connection
    /// (without <c>MapEnum</c>: the PostgreSQL enum then is an int column, which keeps the open connection usable).</summary>
    public static async Task EnsureCreatedInHookAsync(DbEngine engine, DbConnection connection)
    {
        var builder = new DbContextOptionsBuilder<PetContext>();
        if (engine == DbEngine.PostgreSql)
        {
            builder.UseNpgsql(connection);
        }
        else
        {
            builder.UseMySql((MySqlConnector.MySqlConnection)connection, Pets.MariaDb);
        }

        await using var context = new PetContext(builder.Options);
        Assert.True(await context.Database.EnsureCreatedAsync(), "EnsureCreated in the schema hook found tables already");
        if (engine == DbEngine.PostgreSql)
        {
            // HasData inserts the seed's id explicitly, past the identity sequence, which Npgsql's provider leaves at
            // its start: the first insert would take id 1 again. Users move it past their seeds the same way.
            await connection.ExecuteAsync("SELECT setval(pg_get_serial_sequence('pets', 'id'), (SELECT max(id) FROM pets))");
        }
    }

    /// <summary>A context like <see cref="EnsureCreatedInHookAsync"/> makes, on a connection string.</summary>
    public static PetContext IntMoodContext(DbEngine engine, string connectionString)
    {
        var builder = new DbContextOptionsBuilder<PetContext>();
        if (engine == DbEngine.PostgreSql)
        {
            builder.UseNpgsql(connectionString);
        }
        else
        {
            builder.UseMySql(connectionString, Pets.MariaDb);
        }

        return new PetContext(builder.Options);
    }

    /// <summary>The names of the user's objects of one kind in the database <paramref name="connection"/> is on.</summary>
    public static async Task<List<string>> ObjectsAsync(DbConnection connection, DbEngine engine, string kind)
    {
        var sql = (engine, kind) switch
        {
            (DbEngine.PostgreSql, "tables") => "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname = 'public'",
            (DbEngine.PostgreSql, "indexes") => "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'",
            (DbEngine.PostgreSql, "types") => "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' AND t.typtype = 'e'",
            (DbEngine.PostgreSql, "functions") => "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'",
            (DbEngine.PostgreSql, "schemas") => "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname NOT IN ('public', 'information_schema', 'testdbkit')",
            (DbEngine.MySql, "tables") => "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME NOT LIKE 'testdbkit\\_%'",
            (DbEngine.MySql, "indexes") => "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME NOT LIKE 'testdbkit\\_%'",
            (DbEngine.MySql, "functions") => "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME NOT LIKE 'testdbkit\\_%'",
            (DbEngine.MySql, "triggers") => "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME NOT LIKE 'testdbkit\\_%'",
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "no such kind for this engine"),
        };
        var names = new List<string>();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            names.Add(reader.GetString(0));
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>The pets' names, sorted.</summary>
    public static async Task<List<string>> NamesAsync(PetContext context) =>
        (await context.Pets.Select(p => p.Name).ToListAsync()).Order(StringComparer.Ordinal).ToList();

    /// <summary>Every table of the database, the kit's own included, as EF's HasTables query would see them.</summary>
    public static async Task<long> AllTablesAsync(DbConnection connection, DbEngine engine) => Convert.ToInt64(await connection.ScalarAsync(engine == DbEngine.PostgreSql
        ? "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        : "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"), System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A logger factory that keeps every message at Information and above.</summary>
internal sealed class RecordingLogs : ILoggerFactory, ILoggerProvider
{
    public ConcurrentQueue<(LogLevel Level, string Message)> Messages { get; } = new();

    public IEnumerable<string> Warnings => Messages.Where(m => m.Level >= LogLevel.Warning).Select(m => m.Message);

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(RecordingLogs owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                owner.Messages.Enqueue((logLevel, formatter(state, exception)));
            }
        }
    }
}
