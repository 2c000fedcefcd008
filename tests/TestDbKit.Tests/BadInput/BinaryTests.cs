using Xunit.Abstractions;
namespace TestDbKit.Tests.BadInput;

/// <summary>Server binaries that are there by name but are not a database server.</summary>
public sealed class BinaryTests(ITestOutputHelper output)
{
    public static TheoryData<DbEngine, string[]> Fakes => new()
    {
        { DbEngine.PostgreSql, ["postgres", "initdb"] },
        { DbEngine.MySql, ["mariadbd", "mariadb-install-db"] },
    };

    [Theory]
    [MemberData(nameof(Fakes))]
    public async Task Binaries_that_are_not_a_server_fail_with_their_output_and_leave_nothing(DbEngine engine, string[] names)
    {
        var bin = Directory.CreateTempSubdirectory("tdk-fakebin-").FullName;
        var root = Directory.CreateTempSubdirectory("tdk-fakeroot-").FullName;
        try
        {
            // Readable and runnable by the server's OS user too (PostgreSQL runs as another user under root).
            File.SetUnixFileMode(bin, (UnixFileMode)0b111_101_101);
            foreach (var name in names)
            {
                var path = Path.Combine(bin, name);
                await File.WriteAllTextAsync(path, "#!/bin/sh\necho 'tdk-fake: this is not a database server' >&2\nexit 3\n");
                File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
            }

            var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(engine,
                new DbServerOptions { Provider = DbServerProvider.Local, BinDirectory = bin, DataRoot = root }));

            output.WriteLine(e.Message);
            Assert.Equal(DbServerProvider.Local, e.Provider);
            Assert.Contains("exit code 3", e.Message, StringComparison.Ordinal);
            Assert.Contains("tdk-fake: this is not a database server", e.Message, StringComparison.Ordinal);
            Assert.Empty(Directory.GetFileSystemEntries(root));
        }
        finally
        {
            Directory.Delete(bin, recursive: true);
            Directory.Delete(root, recursive: true);
        }
    }
}
