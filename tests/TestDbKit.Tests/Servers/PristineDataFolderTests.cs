using TestDbKit.Servers;
using TestDbKit.Tests.Databases;

namespace TestDbKit.Tests.Servers;

/// <summary>Local servers start from a copy of a data folder initialised once (<see cref="PristineDataFolders"/>):
/// each copy is a server of its own, nothing written to one reaches a later one, and the folder and its password are
/// its user's alone.</summary>
public sealed class PristineDataFolderTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_server_made_from_the_pristine_folder_carries_nothing_of_an_earlier_one(DbEngine engine)
    {
        var name = "tdk_pristine_probe";
        await using (var first = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local }))
        {
            await using var admin = await first.OpenAdminConnectionAsync();
            await admin.ExecuteAsync($"CREATE DATABASE {name}");
            Assert.True(PoolSetup.DatabaseExists(admin, engine, name), "the premise: the first server has the database");
        }

        await using var second = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        await using (var admin = await second.OpenAdminConnectionAsync())
        {
            Assert.False(PoolSetup.DatabaseExists(admin, engine, name), "a database of an earlier server reached a new one");
        }

        var pristine = Directory.GetDirectories(PristineDataFolders.CacheRoot, $"{EngineKey(engine)}-*");
        Assert.NotEmpty(pristine);
        foreach (var folder in pristine)
        {
            Assert.False(File.Exists(Path.Combine(folder, "layout", "server.pid")), $"{folder} was started as a server");
        }
    }

    [Fact]
    public async Task The_pristine_folders_and_their_password_are_their_users_alone()
    {
        await using var server = await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.Local });
        var root = File.GetUnixFileMode(PristineDataFolders.CacheRoot);
        Assert.Equal(UnixFileMode.None, root & (UnixFileMode.GroupRead | UnixFileMode.OtherRead | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite));
        foreach (var folder in Directory.GetDirectories(PristineDataFolders.CacheRoot).Where(f => !Path.GetFileName(f).StartsWith("building-", StringComparison.Ordinal)))
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(folder, "password")));
        }
    }

    private static string EngineKey(DbEngine engine) => Engines.EngineRegistry.Module(engine).Key;
}
