using DotNet.Testcontainers.Containers;
using MySqlConnector;
using Npgsql;
using Respawn;
using Testcontainers.MySql;
using Testcontainers.PostgreSql;

namespace Suite;

/// <summary>Every test class is in this one collection: the tests share one database, so they run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class DatabaseCollection : ICollectionFixture<RecipeFixture>
{
    public const string Name = "db";
}

/// <summary>The run's container, as the Testcontainers and Respawn READMEs set it up: started once, the schema
/// created once, a Respawner made once; stopped (and removed) when the collection ends, inside the run.</summary>
public sealed class RecipeFixture : IAsyncLifetime
{
    private IContainer? _container;

    public static RecipeFixture Current { get; private set; } = null!;

    /// <summary>respawn (Respawn's defaults), reseed (WithReseed = true) or rollback (a transaction per test).</summary>
    public static string Mode { get; } = Environment.GetEnvironmentVariable("SUITE_MODE") ?? "respawn";

    public string ConnectionString { get; private set; } = "";

    public Respawner? Respawner { get; private set; }

    public DbConnection Open() => SuiteEnv.PostgreSql ? new NpgsqlConnection(ConnectionString) : new MySqlConnection(ConnectionString);

    public async Task InitializeAsync()
    {
        if (SuiteEnv.PostgreSql)
        {
            var postgres = new PostgreSqlBuilder(Environment.GetEnvironmentVariable("TESTDBKIT_POSTGRES_IMAGE") ?? "testdbkit/postgres:15").Build();
            await postgres.StartAsync();
            (_container, ConnectionString) = (postgres, postgres.GetConnectionString());
        }
        else
        {
            var mysql = new MySqlBuilder(Environment.GetEnvironmentVariable("TESTDBKIT_MYSQL_IMAGE") ?? "testdbkit/mariadb:10.11").Build();
            await mysql.StartAsync();
            // A test's own transaction and the rollback mode's outer one: commands run in whichever is open.
            (_container, ConnectionString) = (mysql, mysql.GetConnectionString() + ";IgnoreCommandTransaction=true");
        }

        await using var connection = Open();
        await connection.OpenAsync();
        foreach (var statement in Schema.Statements(SuiteEnv.PostgreSql))
        {
            await Sql.ExecAsync(connection, null, statement);
        }

        if (Mode != "rollback")
        {
            Respawner = await Respawner.CreateAsync(connection, new RespawnerOptions
            {
                DbAdapter = SuiteEnv.PostgreSql ? DbAdapter.Postgres : DbAdapter.MySql,
                SchemasToInclude = [SuiteEnv.PostgreSql ? "public" : connection.Database],
                WithReseed = Mode == "reseed",
            });
        }

        Current = this;
    }

    public async Task DisposeAsync()
    {
        if (_container is not null)
        {
            await _container.DisposeAsync();
        }
    }
}

/// <summary>A test on the run's one database: Respawn's reset before it, or a transaction rolled back after it.</summary>
public abstract class SuiteBase : IAsyncLifetime
{
    private DbConnection _connection = null!;
    private DbTransaction? _transaction;
    private bool _outer;

    public async Task InitializeAsync()
    {
        var fixture = RecipeFixture.Current;
        _connection = fixture.Open();
        await _connection.OpenAsync();
        if (fixture.Respawner is { } respawner)
        {
            await respawner.ResetAsync(_connection);
        }
        else
        {
            _transaction = await _connection.BeginTransactionAsync();
            _outer = true;
        }
    }

    public async Task DisposeAsync()
    {
        if (_outer && _transaction is not null)
        {
            await _transaction.RollbackAsync();
        }

        await _connection.DisposeAsync();
    }

    /// <summary>Rollback mode: the test's transaction is the outer one, already open.</summary>
    protected async Task BeginAsync()
    {
        if (!_outer)
        {
            _transaction = await _connection.BeginTransactionAsync();
        }
    }

    protected Task ExecAsync(string sql) => Sql.ExecAsync(_connection, _transaction, sql);

    protected Task<long> CountAsync(string sql) => Sql.CountAsync(_connection, _transaction, sql);
}
