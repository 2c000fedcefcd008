using Xunit.Abstractions;
using DotNet.Testcontainers.Configurations;
using DotNet.Testcontainers.Images;
using TestDbKit.Servers;
using TestDbKit.Tests.Servers;

namespace TestDbKit.Tests.BadInput;

/// <summary>Turns on Testcontainers' resource reaper (Ryuk), a process-wide setting every container start reads:
/// runs in the environment collection, so no other test starts a container meanwhile.</summary>
[Trait("Category", "Docker")]
[Collection(EnvironmentCollection.Name)]
public sealed class DockerRyukTests(ITestOutputHelper output)
{
    [DockerFact]
    public async Task A_ryuk_image_that_cannot_be_had_is_named_with_the_fix_and_no_container_is_left()
    {
        // What TESTCONTAINERS_RYUK_DISABLED unset on a machine without a registry amounts to: Ryuk on, and its
        // image neither local nor pullable (a registry on a loopback port where nothing listens).
        var ryuk = $"127.0.0.1:{Ports.Free()}/testdbkit-tests/no-such-ryuk:0";
        var (enabled, image) = (TestcontainersSettings.ResourceReaperEnabled, TestcontainersSettings.ResourceReaperImage);
        using var env = new EnvironmentScope(("TESTDBKIT_DOCKER_PULL", "never"));
        var databaseImage = TestDbKit.Options.ResolvedServerOptions.Of(DbEngine.MySql, new DbServerOptions()).Image;
        Assert.False(await DockerServer.IsLocalImageAsync(ryuk, default)); // the premise: the engine has no such image
        DbServerException e;
        try
        {
            TestcontainersSettings.ResourceReaperEnabled = true;
            TestcontainersSettings.ResourceReaperImage = new DockerImage(ryuk);
            e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(DbEngine.MySql, new DbServerOptions { Provider = DbServerProvider.Docker }));
        }
        finally
        {
            (TestcontainersSettings.ResourceReaperEnabled, TestcontainersSettings.ResourceReaperImage) = (enabled, image);
        }

        output.WriteLine(e.Message);
        Assert.Contains($"Ryuk's image '{ryuk}' is not on this machine", e.Message, StringComparison.Ordinal);
        Assert.Contains("TESTCONTAINERS_RYUK_DISABLED=true", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("testdbkit/mysql", e.Message, StringComparison.Ordinal); // no image the set-up script builds
        if (await DockerServer.IsLocalImageAsync(databaseImage, default) == true)
        {
            Assert.DoesNotContain("The image is not on this machine", e.Message, StringComparison.Ordinal); // the database image is fine
        }

        Assert.Equal(0, await OwnContainersAsync());
    }

    /// <summary>Containers the kit labelled as this process's.</summary>
    private static async Task<int> OwnContainersAsync()
    {
        var owner = $"{Environment.MachineName}:{Environment.ProcessId}:{Native.StartTimeOf(Environment.ProcessId)}";
        var filter = Uri.EscapeDataString($"{{\"label\":[\"{DockerServer.Label}={owner}\"]}}");
        var (client, why) = DockerProbe.CreateClient();
        using (client)
        {
            Assert.True(client is not null, why);
            using var json = System.Text.Json.JsonDocument.Parse(await client.GetStringAsync(new Uri($"/containers/json?all=1&filters={filter}", UriKind.Relative)));
            return json.RootElement.GetArrayLength();
        }
    }
}
