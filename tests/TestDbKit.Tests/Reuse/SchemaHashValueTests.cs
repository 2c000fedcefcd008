using System.Data.Common;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using System.Runtime.Loader;
using TestDbKit.Servers.Reuse;

namespace TestDbKit.Tests.Reuse;

/// <summary>The schema hash follows what the hook reads besides its code: static fields set by an initializer,
/// values a lambda captured or the test class holds, embedded resources, and files; and only those.</summary>
public sealed class SchemaHashValueTests
{
    private const string V1 = "CREATE TABLE items (id int PRIMARY KEY)";
    private const string V2 = "CREATE TABLE items (id int PRIMARY KEY, note text)";

    [Fact]
    public void A_static_readonly_field_set_by_the_type_initializer_counts_by_its_value()
    {
        // The premise: the two compiles have the same IL everywhere but in the initializer, which the hook never calls.
        var h1 = Hash(Compiled(V1));
        Assert.Equal(h1, Hash(Compiled(V1)));
        Assert.NotEqual(h1, Hash(Compiled(V2)));
        Assert.Equal(h1, Hash(Compiled(V1, unread: "changed"))); // a static field the hook does not read
    }

    [Fact]
    public void Static_values_count_through_arrays_and_own_objects()
    {
        var hook = new Func<DbConnection, Task>(StaticSchema.CreateAsync);
        var h1 = Hash(hook);
        StaticSchema.Tables[1] = "CREATE TABLE b2 (id int)";
        var h2 = Hash(hook);
        StaticSchema.Settings.Inner.Prefix = "y_";
        var h3 = Hash(hook);
        StaticSchema.Unread = "changed";
        Inner.Uses++; // read by a method of a type the hook touches, not by one it calls
        Assert.Equal(h3, Hash(hook));
        Assert.NotEqual(h1, h2);
        Assert.NotEqual(h2, h3);
    }

    [Fact]
    public void A_helpers_clock_read_only_by_its_other_methods_and_its_exit_handler_does_not_count()
    {
        // As a suite's helper: its initializer notes the process's start and registers an exit handler that reports
        // times since then; the hook reads only its engine. The start differs in every run, and counting it would make
        // a kept template unfindable by the next run.
        var hook = new Func<DbConnection, Task>(ClockedSchema.CreateAsync);
        var timed = new Func<DbConnection, Task>(ClockedSchema.CreateTimedAsync);
        var h1 = Hash(hook);
        var t1 = Hash(timed);
        Assert.True(RunClock.HandlerRegistered); // premise: the initializer ran and registered its handler
        RunClock.StartedAt -= 1_000; // another run's start
        RunClock.Marks++;
        Assert.NotEqual(t1, Hash(timed)); // premise: where the hook does read the clock, it counts
        Assert.Equal(h1, Hash(hook));
        RunClock.Engine = "mysql"; // what the hook reads still counts
        Assert.NotEqual(h1, Hash(hook));
    }

    [Fact]
    public void What_a_delegate_made_by_a_type_initializer_reads_counts_unless_it_is_an_event_handler()
    {
        // The initializer keeps a Lazy (another library's object: counted by its type only) whose lambda builds the
        // DDL from a static field; the hook reads the Lazy's value. The lambda is code the hook runs.
        var hook = new Func<DbConnection, Task>(LazySchema.CreateAsync);
        var h1 = Hash(hook);
        LazyDdl.Prefix = "other";
        Assert.NotEqual(h1, Hash(hook));
    }

    [Fact]
    public void Values_a_lambda_captured_count_and_other_captures_of_its_scope_do_not()
    {
        var (hook, bump) = Captured(V1);
        Assert.Equal(2, hook.Target!.GetType().GetFields().Length); // premise: ddl and n share the closure
        var h1 = Hash(hook);
        bump();
        Assert.Equal(h1, Hash(hook));
        Assert.Equal(h1, Hash(Captured(V1).Hook));
        Assert.NotEqual(h1, Hash(Captured(V2).Hook));
    }

    [Fact]
    public void Fields_of_the_test_class_the_hook_reads_count_by_their_value()
    {
        // The hook is bound to an instance: it exists when the hash is computed (the pool is made before the hook runs).
        var owner = new HookOwner { Ddl = V1 };
        var h1 = Hash(new Func<DbConnection, Task>(owner.CreateSchemaAsync));
        var captured = owner.Capturing("-- ");
        Assert.Contains(captured.Target!.GetType().GetFields(), f => f.FieldType == typeof(HookOwner)); // premise: via the closure's this
        var c1 = Hash(captured);
        Assert.Equal(c1, Hash(new Func<DbConnection, Task>(captured))); // a delegate of a delegate is the inner one
        owner.Unread = "changed";
        Assert.Equal(h1, Hash(new Func<DbConnection, Task>(owner.CreateSchemaAsync)));
        Assert.Equal(c1, Hash(captured));
        owner.Ddl = V2;
        Assert.NotEqual(h1, Hash(new Func<DbConnection, Task>(owner.CreateSchemaAsync)));
        Assert.NotEqual(c1, Hash(captured));
        owner.Ddl = V1;
        Assert.Equal(h1, Hash(new Func<DbConnection, Task>(owner.CreateSchemaAsync)));
    }

    [Fact]
    public void Embedded_resources_of_the_hooks_assembly_count_by_their_bytes()
    {
        var h1 = Hash(Compiled(V1, resource: "CREATE TABLE a (id int)"u8.ToArray()));
        Assert.Equal(h1, Hash(Compiled(V1, resource: "CREATE TABLE a (id int)"u8.ToArray())));
        Assert.NotEqual(h1, Hash(Compiled(V1, resource: "CREATE TABLE b (id int)"u8.ToArray())));
    }

    [Fact]
    public void A_file_read_by_a_literal_path_counts_by_its_bytes()
    {
        var file = Path.GetFullPath(LiteralFile);
        try
        {
            File.WriteAllText(file, V1);
            var hook = FileHook();
            var h1 = Hash(hook);
            File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddMinutes(-5)); // its time alone
            Assert.Equal(h1, Hash(hook));
            File.WriteAllText(file, V2);
            Assert.NotEqual(h1, Hash(hook));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void A_folder_read_by_a_literal_path_counts_with_its_files_up_to_a_size()
    {
        var folder = Directory.CreateDirectory(Path.GetFullPath(LiteralFolder));
        try
        {
            File.WriteAllText(Path.Combine(folder.FullName, "1.sql"), V1);
            var hook = FolderHook();
            var h1 = Hash(hook);
            File.WriteAllText(Path.Combine(folder.FullName, "1.sql"), V2);
            var h2 = Hash(hook);
            Assert.NotEqual(h1, h2);
            for (var i = 2; i <= 1_001; i++)
            {
                File.WriteAllText(Path.Combine(folder.FullName, $"{i}.sql"), "");
            }

            Assert.Null(SchemaCodeHash.Of(hook, "shape", out var why));
            Assert.Contains("SchemaFiles", why, StringComparison.Ordinal);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_file_read_by_a_computed_path_keeps_no_template_unless_named_in_the_options()
    {
        var folder = Directory.CreateTempSubdirectory("tdk-schemahash-");
        try
        {
            var file = Path.Combine(folder.FullName, "schema.sql");
            File.WriteAllText(file, V1);
            var hook = ComputedFileHook(file);
            Assert.Null(SchemaCodeHash.Of(hook, "shape", out var why));
            Assert.Contains("SchemaFiles", why, StringComparison.Ordinal);
            Assert.NotNull(SchemaCodeHash.Of(LoggingHook(file + ".log"), "shape", out _)); // a file it writes does not count

            var h1 = SchemaCodeHash.Of(hook, "shape", out why, [folder.FullName]);
            Assert.Null(why);
            Assert.NotNull(h1);
            File.WriteAllText(file, V2);
            Assert.NotEqual(h1, SchemaCodeHash.Of(hook, "shape", out _, [folder.FullName]));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_value_too_deep_to_read_keeps_no_template_and_says_which()
    {
        var hook = new Func<DbConnection, Task>(DeepSchema.CreateAsync);
        Assert.Null(SchemaCodeHash.Of(hook, "shape", out var why));
        Assert.Contains(nameof(DeepSchema.Chain), why, StringComparison.Ordinal);
    }

    [Fact]
    public void Other_libraries_objects_count_by_their_type()
    {
        var hook = new Func<DbConnection, Task>(GatedSchema.CreateAsync);
        var h1 = Hash(hook);
        GatedSchema.Gate.Wait(); // its state is not the schema's
        try
        {
            Assert.Equal(h1, Hash(hook));
        }
        finally
        {
            GatedSchema.Gate.Release();
        }
    }

    private const string LiteralFile = "tdk-schemahash-literal.sql";
    private const string LiteralFolder = "tdk-schemahash-folder";

    private static string Hash(Delegate hook)
    {
        var hash = SchemaCodeHash.Of(hook, "shape", out var why);
        Assert.Null(why);
        return hash!;
    }

    private static (Func<DbConnection, Task> Hook, Action Bump) Captured(string ddl)
    {
        var n = 0;
        Func<DbConnection, Task> hook = c => SchemaCodeRunner.RunAsync(c, ddl);
        return (hook, () => n++);
    }

    private static Func<DbConnection, Task> FileHook() => c => SchemaCodeRunner.RunAsync(c, File.ReadAllText(LiteralFile));

    private static Func<DbConnection, Task> FolderHook() => async c =>
    {
        foreach (var file in Directory.GetFiles(LiteralFolder, "*.sql"))
        {
            await SchemaCodeRunner.RunAsync(c, File.ReadAllText(file));
        }
    };

    private static Func<DbConnection, Task> LoggingHook(string log) => c =>
    {
        File.AppendAllText(log, "built\n");
        return SchemaCodeRunner.RunAsync(c, V1);
    };

    private static Func<DbConnection, Task> ComputedFileHook(string path) => c => SchemaCodeRunner.RunAsync(c, File.ReadAllText(path));

    /// <summary>Compiles a fresh assembly whose <c>Schema.Hook</c> runs the static readonly field <c>Ddl</c>, which
    /// its type initializer sets to <paramref name="sql"/> (and <c>Unread</c> to <paramref name="unread"/>), with
    /// <paramref name="resource"/> embedded: as a user's test assembly compiled again after an edit.</summary>
    private static Func<DbConnection, Task> Compiled(string sql, string unread = "", byte[]? resource = null)
    {
        var builder = new PersistedAssemblyBuilder(new AssemblyName("TdkSchemaHash"), typeof(object).Assembly);
        var type = builder.DefineDynamicModule("TdkSchemaHash").DefineType("Schema", TypeAttributes.Public | TypeAttributes.Abstract | TypeAttributes.Sealed);
        var ddl = type.DefineField("Ddl", typeof(string), FieldAttributes.Public | FieldAttributes.Static | FieldAttributes.InitOnly);
        var other = type.DefineField("Unread", typeof(string), FieldAttributes.Public | FieldAttributes.Static | FieldAttributes.InitOnly);
        var il = type.DefineTypeInitializer().GetILGenerator();
        il.Emit(OpCodes.Ldstr, sql);
        il.Emit(OpCodes.Stsfld, ddl);
        il.Emit(OpCodes.Ldstr, unread);
        il.Emit(OpCodes.Stsfld, other);
        il.Emit(OpCodes.Ret);
        var hook = type.DefineMethod("Hook", MethodAttributes.Public | MethodAttributes.Static, typeof(Task), [typeof(DbConnection)]);
        il = hook.GetILGenerator();
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Ldsfld, ddl);
        il.Emit(OpCodes.Call, typeof(SchemaCodeRunner).GetMethod(nameof(SchemaCodeRunner.RunAsync))!);
        il.Emit(OpCodes.Ret);
        type.CreateType();

        var metadata = builder.GenerateMetadata(out var ilStream, out var fieldData);
        var resources = new BlobBuilder();
        if (resource is not null)
        {
            metadata.AddManifestResource(ManifestResourceAttributes.Public, metadata.GetOrAddString("Schema.sql"), default, (uint)resources.Count);
            resources.WriteInt32(resource.Length);
            resources.WriteBytes(resource);
        }

        var pe = new ManagedPEBuilder(PEHeaderBuilder.CreateLibraryHeader(), new MetadataRootBuilder(metadata), ilStream, fieldData, managedResources: resources);
        var blob = new BlobBuilder();
        pe.Serialize(blob);
        using var image = new MemoryStream();
        blob.WriteContentTo(image);
        image.Position = 0;
        var assembly = new AssemblyLoadContext("schema-hash", isCollectible: true).LoadFromStream(image);
        Assert.Equal(resource is null ? [] : ["Schema.sql"], assembly.GetManifestResourceNames()); // premise
        return assembly.GetType("Schema")!.GetMethod("Hook")!.CreateDelegate<Func<DbConnection, Task>>();
    }

    private sealed class HookOwner
    {
        public string Ddl { get; set; } = "";

        public string Unread { get; set; } = "";

        public Task CreateSchemaAsync(DbConnection connection) => SchemaCodeRunner.RunAsync(connection, Ddl);

        public Func<DbConnection, Task> Capturing(string prefix) => c => SchemaCodeRunner.RunAsync(c, prefix + Ddl);
    }

    private static class StaticSchema
    {
        public static readonly string[] Tables = ["CREATE TABLE a (id int)", "CREATE TABLE b (id int)"];
        public static readonly Settings Settings = new() { Inner = new Inner { Prefix = "x_" } };
        public static string Unread = "";

        public static async Task CreateAsync(DbConnection connection)
        {
            foreach (var table in Tables)
            {
                await SchemaCodeRunner.RunAsync(connection, Settings.Inner.Prefix + table);
            }
        }
    }

    private sealed class Settings
    {
        public required Inner Inner { get; init; }
    }

    private sealed class Inner
    {
        public static int Uses;

        public required string Prefix { get; set; }

        public static int Count() => Uses;
    }

    private static class ClockedSchema
    {
        public static Task CreateAsync(DbConnection connection) => SchemaCodeRunner.RunAsync(connection, $"-- {RunClock.Engine}\n{V1}");

        public static Task CreateTimedAsync(DbConnection connection) => SchemaCodeRunner.RunAsync(connection, $"-- {RunClock.Since()}\n{V1}");
    }

    private static class RunClock
    {
        public static long StartedAt = Environment.TickCount64;
        public static int Marks;
        public static string Engine = "postgresql";

        static RunClock()
        {
            var note = Path.Combine(Path.GetTempPath(), "tdk-schemahash-never-written");
            AppDomain.CurrentDomain.ProcessExit += (_, _) => Report(note);
            HandlerRegistered = true;
        }

        public static bool HandlerRegistered { get; }

        public static void Mark() => Marks++;

        public static long Since() => Environment.TickCount64 - StartedAt;

        public static async Task FlushAsync(TextWriter writer) => await writer.WriteLineAsync($"{Since()} ms, {Marks} marks");

        private static void Report(string note)
        {
            if (Marks > 0 && note.Length == 0)
            {
                Console.WriteLine(Since());
            }
        }
    }

    private static class LazySchema
    {
        public static Task CreateAsync(DbConnection connection) => SchemaCodeRunner.RunAsync(connection, LazyDdl.Ddl.Value);
    }

    private static class LazyDdl
    {
        public static string Prefix = "app";
        public static readonly Lazy<string> Ddl = new(() => $"CREATE TABLE {Prefix}_items (id int PRIMARY KEY)");
    }

    private static class DeepSchema
    {
        public static readonly Link Chain = Enumerable.Range(0, 100).Aggregate(new Link(null, "end"), (next, i) => new Link(next, $"t{i}"));

        public static Task CreateAsync(DbConnection connection) => SchemaCodeRunner.RunAsync(connection, Chain.Name);
    }

    private sealed record Link(Link? Next, string Name);

    private static class GatedSchema
    {
        public static readonly SemaphoreSlim Gate = new(1);

        public static async Task CreateAsync(DbConnection connection)
        {
            await Gate.WaitAsync();
            try
            {
                await SchemaCodeRunner.RunAsync(connection, V1);
            }
            finally
            {
                Gate.Release();
            }
        }
    }
}
