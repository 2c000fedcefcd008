using System.Data.Common;
using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.Loader;
using System.Runtime.Versioning;
using TestDbKit.Engines;
using TestDbKit.Servers;
using TestDbKit.Servers.Reuse;

namespace TestDbKit.Tests.Reuse;

/// <summary>Templates on a kept server are keyed by the schema code: the same code finds the template a run built, a
/// change in the code (in a helper the hook calls, too) builds a new one.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class ReuseTemplateTests : OutsideCi
{
    private const string V1 = "CREATE TABLE items (id int PRIMARY KEY)";
    private const string V2 = "CREATE TABLE items (id int PRIMARY KEY, note text)";

    [Fact]
    public void The_hash_follows_the_code_the_hook_calls_not_its_names()
    {
        // The premise: the two compiles of V1 are different assemblies with identical code (the names are the same in all).
        var first = SchemaCode(V1);
        var again = SchemaCode(V1);
        Assert.NotSame(first.Method.Module.Assembly, again.Method.Module.Assembly);

        var h1 = SchemaCodeHash.Of(first, "shape", out var why);
        Assert.Null(why);
        Assert.Equal(h1, SchemaCodeHash.Of(again, "shape", out _));
        Assert.NotEqual(h1, SchemaCodeHash.Of(SchemaCode(V2), "shape", out _)); // only the helper's body differs
        Assert.NotEqual(h1, SchemaCodeHash.Of(first, "other shape", out _));
    }

    [Fact]
    public void The_hash_of_a_test_classs_hook_does_not_change_with_its_tests_but_with_what_the_hook_reaches()
    {
        var hook = new Func<DbConnection, Task>(new HookOwner().CreateSchemaAsync);
        var hash = SchemaCodeHash.Of(hook, "shape", out var why);
        Assert.Null(why);
        Assert.NotNull(hash);
        var other = new Func<DbConnection, Task>(new HookOwner().CreateOtherSchemaAsync);
        Assert.NotEqual(hash, SchemaCodeHash.Of(other, "shape", out _));
    }

    [Fact]
    public async Task The_same_schema_code_finds_the_kept_template_and_changed_code_builds_a_new_one()
    {
        await using var kept = new KeptServers();
        var server = await DbServer.SharedForAsync(DbEngine.PostgreSql, kept.Options(), CancellationToken.None);
        Assert.NotNull(server.Instance.Kept);

        string built;
        await using (var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = SchemaCode(V1), LoggerFactory = kept.Logs }))
        {
            built = pool.TemplateName!;
        }

        // The pool is gone (as at a run's end); its template is not.
        Assert.Contains(built, await DatabasesAsync(server));

        await using (var same = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = SchemaCode(V1), LoggerFactory = kept.Logs }))
        {
            Assert.Equal(built, same.TemplateName);
            Assert.Contains(kept.Logs.Entries, e => e.Id.Id == 56 && e.Message.Contains(built, StringComparison.Ordinal));
            await using var db = await same.LeaseAsync();
            await using var connection = await db.OpenConnectionAsync();
            await connection.ExecuteAsync("INSERT INTO items VALUES (1)"); // the kept template's tracking still resets it
        }

        await using var changed = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = SchemaCode(V2), LoggerFactory = kept.Logs });
        Assert.NotEqual(built, changed.TemplateName);
        await using var lease = await changed.LeaseAsync();
        await using var c = await lease.OpenConnectionAsync();
        Assert.Equal(0L, Convert.ToInt64(await c.ScalarAsync("SELECT count(*) FROM items WHERE note IS NULL")));
    }

    [Fact]
    public async Task Only_the_most_recently_used_templates_are_kept()
    {
        await using var kept = new KeptServers();
        var server = await DbServer.SharedForAsync(DbEngine.PostgreSql, kept.Options(), CancellationToken.None);
        var templates = new List<string>();
        for (var i = 0; i <= KeptServer.TemplatesKept; i++)
        {
            await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = SchemaCode($"CREATE TABLE t{i} (id int)") });
            templates.Add(pool.TemplateName!);
            File.SetLastWriteTimeUtc(Directory.GetFiles(Path.Combine(kept.ServerFolder, "templates")).OrderBy(File.GetLastWriteTimeUtc).Last(), DateTime.UtcNow.AddMinutes(i));
        }

        var left = await DatabasesAsync(server);
        Assert.DoesNotContain(templates[0], left);
        Assert.All(templates.Skip(1), t => Assert.Contains(t, left));
    }

    [Fact]
    public async Task A_template_another_live_run_copies_from_is_not_evicted()
    {
        await using var kept = new KeptServers();
        var server = await DbServer.SharedForAsync(DbEngine.PostgreSql, kept.Options(), CancellationToken.None);
        var templates = new List<string>();
        for (var i = 0; i <= KeptServer.TemplatesKept; i++)
        {
            await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = SchemaCode($"CREATE TABLE u{i} (id int)") });
            templates.Add(pool.TemplateName!);
            var newest = Directory.GetFiles(Path.Combine(kept.ServerFolder, "templates")).OrderBy(File.GetLastWriteTimeUtc).Last();
            File.SetLastWriteTimeUtc(newest, DateTime.UtcNow.AddMinutes(i));
            if (i == 0)
            {
                // Another run, alive (this process stands in for it), copies from the first template.
                var me = Environment.ProcessId;
                File.WriteAllText(Path.Combine(kept.ServerFolder, "runs", "other1"), $"{me} {Native.StartTimeOf(me)}\n{Path.GetFileNameWithoutExtension(newest)}\n");
            }
        }

        var left = await DatabasesAsync(server);
        Assert.Equal(KeptServer.TemplatesKept + 1, Directory.GetFiles(Path.Combine(kept.ServerFolder, "templates")).Length); // premise: one more than kept
        Assert.All(templates, t => Assert.Contains(t, left));
    }

    private static async Task<List<string>> DatabasesAsync(DbServer server)
    {
        await using var admin = await server.OpenAdminConnectionAsync();
        return await admin.ReadColumnAsync(server.Dialect.ListDatabasesSql("tdk_"), r => r.GetString(0), CancellationToken.None);
    }

    /// <summary>Compiles a fresh assembly whose <c>Schema.Hook</c> calls <c>Schema.Helper</c>, which runs
    /// <paramref name="sql"/>: as a user's test assembly would be compiled again after an edit of the helper.</summary>
    private static Func<DbConnection, Task> SchemaCode(string sql)
    {
        var builder = new PersistedAssemblyBuilder(new AssemblyName("TdkSchemaCode"), typeof(object).Assembly);
        var type = builder.DefineDynamicModule("TdkSchemaCode").DefineType("Schema", TypeAttributes.Public | TypeAttributes.Abstract | TypeAttributes.Sealed);
        var helper = type.DefineMethod("Helper", MethodAttributes.Public | MethodAttributes.Static, typeof(Task), [typeof(DbConnection)]);
        var il = helper.GetILGenerator();
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Ldstr, sql);
        il.Emit(OpCodes.Call, typeof(SchemaCodeRunner).GetMethod(nameof(SchemaCodeRunner.RunAsync))!);
        il.Emit(OpCodes.Ret);
        var hook = type.DefineMethod("Hook", MethodAttributes.Public | MethodAttributes.Static, typeof(Task), [typeof(DbConnection)]);
        il = hook.GetILGenerator();
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Call, helper);
        il.Emit(OpCodes.Ret);
        type.CreateType();
        using var image = new MemoryStream();
        builder.Save(image);
        image.Position = 0;
        var assembly = new AssemblyLoadContext("schema-code", isCollectible: true).LoadFromStream(image);
        return assembly.GetType("Schema")!.GetMethod("Hook")!.CreateDelegate<Func<DbConnection, Task>>();
    }

    private sealed class HookOwner
    {
        private readonly string _v1 = V1;
        private readonly string _v2 = V2;

        public Task CreateSchemaAsync(DbConnection connection) => SchemaCodeRunner.RunAsync(connection, _v1);

        public Task CreateOtherSchemaAsync(DbConnection connection) => SchemaCodeRunner.RunAsync(connection, _v2);
    }
}

/// <summary>What the emitted schema helpers run.</summary>
public static class SchemaCodeRunner
{
    public static async Task RunAsync(DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}
