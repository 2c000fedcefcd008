using System.Data.Common;
using TestDbKit.Engines;
using TestDbKit.Sessions;

namespace TestDbKit.Tests.Databases;

/// <summary>The schema hook that builds from a connection string (<see cref="DatabasePoolOptions.BuildSchema"/>,
/// <see cref="SchemaTarget"/>): what it is given, what the kit does after it, and its errors.</summary>
public sealed class SchemaTargetTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_schema_built_from_the_targets_connection_string_is_in_every_database_with_its_seed_rows(DbEngine engine)
    {
        var targets = new List<(string Name, DbEngine Engine, string ConnectionString)>();
        var dialect = EngineDialect.For(engine);
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions
        {
            MaxDatabases = 1,
            BuildSchema = async (target, ct) =>
            {
                targets.Add((target.Name, target.Engine, target.ConnectionString));
                // A connection of the hook's own, from the string, as an ORM opens it.
                await using (var own = dialect.CreateConnection(target.ConnectionString))
                {
                    await own.OpenAsync(ct);
                    await Schemas.Small(engine)(own);
                }

                await using var kit = await target.OpenConnectionAsync(ct);
                await kit.ExecuteAsync("INSERT INTO items (tag) VALUES ('seed')");
            },
        });

        await using (var db = await pool.LeaseAsync())
        {
            var (name, targetEngine, cs) = Assert.Single(targets);
            Assert.Equal(engine, targetEngine);
            Assert.Equal(name, dialect.Parse(cs).Database);
            if (engine == DbEngine.MySql)
            {
                Assert.Equal(db.Name, name); // no templates: the hook ran on the leased database itself
            }
            else
            {
                Assert.NotEqual(db.Name, name); // the template
            }

            await using var connection = await db.OpenConnectionAsync();
            await connection.InsertItemAsync(engine, "written");
            Assert.Equal(2, await connection.CountAsync("items"));
        }

        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(1, await connection.CountAsync("items")); // the seed row stays, the test's row is gone
        }
    }

    [Fact]
    public async Task Sessions_a_hook_leaves_on_the_template_are_ended_so_it_can_be_copied()
    {
        var engine = DbEngine.PostgreSql;
        var left = new List<DbConnection>();
        try
        {
            await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions
            {
                MaxDatabases = 1,
                BuildSchema = async (target, ct) =>
                {
                    var connection = await target.OpenConnectionAsync(ct);
                    left.Add(connection); // not closed: as an ORM's own pool keeps its sessions
                    await Schemas.Small(engine)(connection);
                },
            });

            // The premise: the hook's session was still open on the template when it returned, so without the kit's
            // cleanup CREATE DATABASE .. TEMPLATE would have refused (55006). Its session was ended by the server.
            var kept = Assert.Single(left);
            await Assert.ThrowsAnyAsync<DbException>(() => kept.ExecuteAsync("SELECT 1"));
            await using var db = await pool.LeaseAsync();
            await using var leased = await db.OpenConnectionAsync();
            Assert.Equal(0, await leased.CountAsync("items"));
        }
        finally
        {
            foreach (var connection in left)
            {
                await connection.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_template_that_something_keeps_reconnecting_to_is_a_clear_error_naming_the_sessions()
    {
        // Three loops the hook leaves behind hold sessions on the template and reconnect as soon as they are ended:
        // the kit's cleanup after the hook and its second try both meet sessions, so the copy fails.
        using var stop = new CancellationTokenSource();
        var loops = new List<Task>();
        var e = await Assert.ThrowsAsync<InvalidOperationException>(async () => await DatabasePool.CreateAsync(await DbServer.SharedAsync(DbEngine.PostgreSql), new DatabasePoolOptions
        {
            MaxDatabases = 1,
            BuildSchema = async (target, ct) =>
            {
                for (var i = 0; i < 3; i++)
                {
                    loops.Add(Task.Run(() => HoldAsync(target, stop.Token), CancellationToken.None));
                }

                await Task.Delay(300, ct);
            },
        }));
        await stop.CancelAsync();
        await Task.WhenAll(loops);
        Assert.StartsWith("Could not copy the template tdk_", e.Message, StringComparison.Ordinal);
        Assert.Contains("is being accessed by other users. Sessions still connected to it: session ", e.Message, StringComparison.Ordinal);
        Assert.Contains("close every connection, DbContext or data source the schema hook opened before it returns", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", e.Message, StringComparison.Ordinal);

        static async Task HoldAsync(SchemaTarget target, CancellationToken stop)
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await using var connection = await target.OpenConnectionAsync(stop);
                    while (!stop.IsCancellationRequested)
                    {
                        await connection.ExecuteAsync("SELECT 1");
                        await Task.Delay(2, stop);
                    }
                }
                catch (Exception e) when (e is DbException or OperationCanceledException or InvalidOperationException or IOException)
                {
                    // Ended by the kit (or stopping): reconnect at once.
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_failing_hook_is_a_clear_error_that_names_the_database_and_never_the_password(DbEngine engine)
    {
        var server = await DbServer.SharedAsync(engine);
        var password = server.Dialect.PasswordOf(server.ConnectionStringFor("x"));
        string? built = null;
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => DatabasePool.CreateAsync(server, new DatabasePoolOptions
        {
            BuildSchema = (target, _) =>
            {
                built = target.Name;
                throw new InvalidOperationException($"could not use {target.ConnectionString}");
            },
        }));
        Assert.NotNull(built);
        Assert.Contains($"failed on database {built} ({server.Dialect.Name}, {server.Provider})", e.Message, StringComparison.Ordinal);
        Assert.Contains("CreateSchemaAsync(SchemaTarget", e.Message, StringComparison.Ordinal);
        if (!string.IsNullOrEmpty(password))
        {
            Assert.DoesNotContain(password, e.Message, StringComparison.Ordinal);
        }

        await using var admin = await server.OpenAdminConnectionAsync();
        Assert.False(PoolSetup.DatabaseExists(admin, engine, built!));
    }

    [Fact]
    public void Setting_both_hooks_is_refused_and_says_which_to_keep()
    {
        var e = Assert.Throws<ArgumentException>(() => new DatabasePoolOptions
        {
            CreateSchema = _ => Task.CompletedTask,
            BuildSchema = (_, _) => Task.CompletedTask,
        });
        Assert.Contains("Keep CreateSchema", e.Message, StringComparison.Ordinal);
        Assert.Contains("keep BuildSchema", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new DatabasePoolOptions
        {
            BuildSchema = (_, _) => Task.CompletedTask,
            CreateSchema = _ => Task.CompletedTask,
        });
    }

    // The schema's identity: the class that declares the CreateSchemaAsync in use, whichever overload it is.
    private abstract class Base
    {
        protected virtual Task CreateSchemaAsync(DbConnection connection) => Task.CompletedTask;

        protected virtual Task CreateSchemaAsync(SchemaTarget target, CancellationToken ct) => Task.CompletedTask;
    }

    private class OnConnection : Base
    {
        protected override Task CreateSchemaAsync(DbConnection connection) => Task.CompletedTask;
    }

    private class OnTarget : Base
    {
        protected override Task CreateSchemaAsync(SchemaTarget target, CancellationToken ct) => Task.CompletedTask;
    }

    private sealed class OnConnectionA : OnConnection;

    private sealed class OnConnectionB : OnConnection;

    private sealed class OnTargetA : OnTarget;

    private sealed class OnTargetB : OnTarget;

    private sealed class TargetBelowConnection : OnConnection
    {
        protected override Task CreateSchemaAsync(SchemaTarget target, CancellationToken ct) => Task.CompletedTask;
    }

    private sealed class ConnectionBelowTarget : OnTarget
    {
        protected override Task CreateSchemaAsync(DbConnection connection) => Task.CompletedTask;
    }

    private sealed class Neither : Base;

    [Fact]
    public void Classes_that_share_the_declaring_class_of_either_overload_share_the_schema()
    {
        Assert.Equal(typeof(OnConnection), SessionOptionsResolver.SchemaOwner(typeof(OnConnectionA)));
        Assert.Equal(typeof(OnConnection), SessionOptionsResolver.SchemaOwner(typeof(OnConnectionB)));
        Assert.Equal(typeof(OnTarget), SessionOptionsResolver.SchemaOwner(typeof(OnTargetA)));
        Assert.Equal(typeof(OnTarget), SessionOptionsResolver.SchemaOwner(typeof(OnTargetB)));
        Assert.Equal(typeof(TargetBelowConnection), SessionOptionsResolver.SchemaOwner(typeof(TargetBelowConnection)));
        Assert.Equal(typeof(ConnectionBelowTarget), SessionOptionsResolver.SchemaOwner(typeof(ConnectionBelowTarget)));
        Assert.Equal(typeof(Base), SessionOptionsResolver.SchemaOwner(typeof(Neither)));
    }
}
