// xunit v2 only: the options reach the pool through the core (SessionOptionsResolver), the same for every adapter,
// and four child runs are too slow to pay twice.
#if !XUNIT_V3
using System.Data.Common;
using System.Runtime.Versioning;
using System.Xml.Linq;
using TestDbKit.Servers;
using TestDbKit.Servers.Reuse;
using TestDbKit.Tests.Common;
using TestDbKit.Xunit;
using Xunit.Abstractions;

namespace TestDbKit.Xunit.Tests
{
    /// <summary>
    /// <see cref="TestDbOptions.SchemaFiles"/> set in a base class's <c>Configure</c>, end to end: a schema hook that
    /// reads a file by a path computed at run time, run as whole <c>dotnet test</c> processes against one kept
    /// PostgreSQL server (a reuse folder of this test's own). Unnamed, the file keeps the template from being kept;
    /// named, the next run finds the template again, and a change in the file builds a new one.
    /// </summary>
    [UnsupportedOSPlatform("windows")]
    public sealed class SchemaFilesReuseTests
    {
        [Fact]
        public async Task A_base_class_keeps_its_template_by_the_schema_files_it_names()
        {
            var root = Directory.CreateTempSubdirectory("tdk-schemafiles-base-");
            var state = Path.Combine(root.FullName, "state"); // made by the kit, private
            var files = Directory.CreateDirectory(Path.Combine(root.FullName, "sql")).FullName;
            try
            {
                File.WriteAllText(Path.Combine(files, "schema.sql"), "CREATE TABLE items (id int PRIMARY KEY)");

                // Unnamed: the hash cannot know the file; the server is kept, its template is not, and the log says what to do.
                var unnamed = await RunAsync(state, files, named: false);
                Assert.Contains("The template is not kept for later runs", unnamed, StringComparison.Ordinal);
                Assert.Contains("SchemaFiles", unnamed, StringComparison.Ordinal);
                Assert.Contains("columns: id\n", unnamed, StringComparison.Ordinal);
                Assert.Empty(Templates(state));

                // Named: this run builds the template and keeps it, on the server.
                var first = await RunAsync(state, files, named: true);
                Assert.DoesNotContain("The template is not kept", first, StringComparison.Ordinal);
                var built = Assert.Single(Templates(state));
                Assert.Contains(built.Name, Databases(first));

                // Same file: the next run takes it again instead of building one.
                var same = await RunAsync(state, files, named: true);
                Assert.Contains($"Reusing template {built.Name} (schema code hash {built.Hash})", same, StringComparison.Ordinal);
                Assert.Equal(built, Assert.Single(Templates(state)));
                Assert.Equal([built.Name], TemplatesOnTheServer(same)); // none built by this run

                // Changed file: a new template, with the new schema; the old one stays kept beside it.
                File.WriteAllText(Path.Combine(files, "schema.sql"), "CREATE TABLE items (id int PRIMARY KEY, note text)");
                var changed = await RunAsync(state, files, named: true);
                Assert.DoesNotContain("Reusing template", changed, StringComparison.Ordinal);
                Assert.Contains("columns: id,note\n", changed, StringComparison.Ordinal);
                var templates = Templates(state);
                Assert.Equal(2, templates.Count);
                var rebuilt = templates[0]; // most recently used first
                Assert.NotEqual(built.Hash, rebuilt.Hash);
                Assert.NotEqual(built.Name, rebuilt.Name);
                Assert.Equal(new[] { built.Name, rebuilt.Name }.Order(StringComparer.Ordinal), TemplatesOnTheServer(changed).Order(StringComparer.Ordinal));
            }
            finally
            {
                await StopKeptAsync(state);
                root.Delete(recursive: true);
            }
        }

        /// <summary>Runs the probe in a child <c>dotnet test</c> on the kept server of <paramref name="state"/>;
        /// returns what it printed, once the probe passed.</summary>
        private static async Task<string> RunAsync(string state, string files, bool named)
        {
            var (results, output) = await ChildTestRuns.RunAsync(
                typeof(SchemaFilesReuseTests).Assembly.Location,
                "FullyQualifiedName~TestDbKit.Xunit.Tests.SchemaFilesProbes.",
                TimeSpan.FromMinutes(3),
                d => d.Descendants(ChildTestRuns.Trx + "UnitTestResult").Descendants(ChildTestRuns.Trx + "StdOut"),
                new Dictionary<string, string>
                {
                    [SchemaFilesProbes.SchemaFromAFile.FolderVariable] = files,
                    [SchemaFilesProbes.SchemaFromAFile.NamedVariable] = named ? "1" : "0",
                    ["TESTDBKIT_REUSE_DIR"] = state,
                    ["CI"] = "", // reuse is off in CI, as the suite may run
                });
            var result = Assert.Single(results);
            Assert.True(result.Outcome == "Passed", $"the probe should pass, was {result.Outcome}: {result.Message}\n{output}");
            return output.ReplaceLineEndings("\n");
        }

        private static List<(string Hash, string Name)> Templates(string state) =>
            [.. new KeptServer(Directory.GetDirectories(state).Single(), attached: true, testPassword: null).Templates().Select(t => (t.Hash, t.Template.Name))];

        /// <summary>The server's databases, as the probe listed them.</summary>
        private static string[] Databases(string output) =>
            output.Split('\n').Single(l => l.StartsWith("databases: ", StringComparison.Ordinal))["databases: ".Length..].Split(',');

        /// <summary>The template databases on the server, as the probe listed them (the kit names them ..._tN).</summary>
        private static string[] TemplatesOnTheServer(string output) =>
            [.. Databases(output).Where(n => System.Text.RegularExpressions.Regex.IsMatch(n, "^tdk_.*_t[0-9]+$"))];

        /// <summary>Stops the kept server and its idle watcher, and deletes its data: no test leaves a kept server behind.</summary>
        private static async Task StopKeptAsync(string state)
        {
            foreach (var folder in Directory.Exists(state) ? Directory.GetDirectories(state) : [])
            {
                if (KeptState.Read(folder) is { } kept)
                {
                    Native.Signal(kept.WatcherPid, Native.SIGKILL);
                    Native.Signal(kept.Pid, Native.SIGKILL);
                    await Expect.EventuallyAsync(() => Task.FromResult(!Native.IsAlive(kept.Pid)), TimeSpan.FromSeconds(20), $"kept server {kept.Pid} stops");
                    if (Directory.Exists(kept.Layout))
                    {
                        Directory.Delete(kept.Layout, recursive: true);
                    }
                }
            }
        }
    }
}

namespace TestDbKit.Xunit.Tests.SchemaFilesProbes
{
    /// <summary>Builds its schema from a file whose folder it learns at run time; runs only in the child runs of
    /// <see cref="SchemaFilesReuseTests"/>, on a kept Local server, and prints what the parent checks.</summary>
    public sealed class SchemaFromAFile : ResilientDbTestBase
    {
        private readonly ITestOutputHelper _output;

        public SchemaFromAFile(ITestOutputHelper output)
            : base(output, DbEngine.PostgreSql)
        {
            _output = output;
        }

        public const string FolderVariable = "TESTDBKIT_TEST_SCHEMA_FOLDER";
        public const string NamedVariable = "TESTDBKIT_TEST_SCHEMA_FOLDER_NAMED";

        private static string Folder => Environment.GetEnvironmentVariable(FolderVariable) ?? throw new InvalidOperationException($"{FolderVariable} is not set");

        protected override void Configure(TestDbOptions options)
        {
            options.Provider = DbServerProvider.Local;
            options.Reuse = true;
            if (Environment.GetEnvironmentVariable(NamedVariable) == "1")
            {
                options.SchemaFiles = [Folder];
            }
        }

        protected override Task CreateSchemaAsync(DbConnection connection) =>
            connection.ExecuteAsync(File.ReadAllText(Path.Combine(Folder, "schema.sql")));

        [ChildRunFact]
        public async Task Prints_its_schema_and_the_servers_databases()
        {
            _output.WriteLine($"columns: {await Connection.ScalarAsync("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'items'")}");
            _output.WriteLine($"databases: {await Connection.ScalarAsync("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database")}");
        }
    }
}
#endif
