using System.Data.Common;
using System.Runtime.Versioning;
using TestDbKit.Engines;
using TestDbKit.Servers;

namespace TestDbKit.Tests.Reuse;

/// <summary>On a kept server, a schema read from a file by a computed path keeps its template only when the file is
/// named in <see cref="DatabasePoolOptions.SchemaFiles"/>, and a change in that file builds a new template.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class SchemaHashReuseTests : OutsideCi
{
    [Fact]
    public async Task A_kept_template_follows_the_schema_files_named_in_the_options()
    {
        await using var kept = new KeptServers();
        var server = await DbServer.SharedForAsync(DbEngine.PostgreSql, kept.Options(), CancellationToken.None);
        Assert.NotNull(server.Instance.Kept);
        var folder = Directory.CreateTempSubdirectory("tdk-schemafiles-");
        try
        {
            var file = Path.Combine(folder.FullName, "schema.sql");
            File.WriteAllText(file, "CREATE TABLE items (id int PRIMARY KEY)");
            var hook = FromFile(file);

            // Unnamed, the file cannot be known: the template is not kept, and the log says what to do.
            await using (var unnamed = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = hook, LoggerFactory = kept.Logs }))
            {
                Assert.Contains(kept.Logs.Entries, e => e.Id.Id == 57 && e.Message.Contains("SchemaFiles", StringComparison.Ordinal));
            }

            string built;
            await using (var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = hook, SchemaFiles = [folder.FullName] }))
            {
                built = pool.TemplateName!;
            }

            await using (var same = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = hook, SchemaFiles = [folder.FullName] }))
            {
                Assert.Equal(built, same.TemplateName);
            }

            File.WriteAllText(file, "CREATE TABLE items (id int PRIMARY KEY, note text)");
            await using var changed = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = hook, SchemaFiles = [folder.FullName] });
            Assert.NotEqual(built, changed.TemplateName);
            await using var lease = await changed.LeaseAsync();
            await using var connection = await lease.OpenConnectionAsync();
            Assert.Equal(0L, Convert.ToInt64(await connection.ScalarAsync("SELECT count(*) FROM items WHERE note IS NULL")));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static Func<DbConnection, Task> FromFile(string path) => c => SchemaCodeRunner.RunAsync(c, File.ReadAllText(path));
}
