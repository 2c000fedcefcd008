namespace TestDbKit.Tests.Servers;

public sealed class SharedServerTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Many_concurrent_callers_get_one_server_that_dispose_does_not_stop(DbEngine engine)
    {
        var servers = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => DbServer.SharedAsync(engine))));
        Assert.All(servers, s => Assert.Same(servers[0], s));
        Assert.True(servers[0].IsShared);

        await servers[0].DisposeAsync();
        Assert.Equal(1, Convert.ToInt32(await (await DbServer.SharedAsync(engine)).ScalarAsync("SELECT 1")));
    }

    [Fact]
    public async Task A_cancelled_wait_does_not_cancel_the_shared_start()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        try
        {
            await DbServer.SharedAsync(DbEngine.PostgreSql, cts.Token);
        }
        catch (OperationCanceledException)
        {
            // Expected when this test asked first; a started server is simply returned.
        }

        var server = await DbServer.SharedAsync(DbEngine.PostgreSql);
        Assert.Equal(1, Convert.ToInt32(await server.ScalarAsync("SELECT 1")));
    }
}
