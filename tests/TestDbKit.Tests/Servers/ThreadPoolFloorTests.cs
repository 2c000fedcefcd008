namespace TestDbKit.Tests.Servers;

/// <summary>The kit keeps thread-pool threads beyond the core count, so a test host that holds some of the pool's
/// threads (VSTest's message loop polls on one) does not make every await of the kit wait for the pool to grow.</summary>
[Collection(EnvironmentCollection.Name)] // the pool's minimum is the process's
public sealed class ThreadPoolFloorTests
{
    private static readonly int Wanted = Environment.ProcessorCount + ThreadPoolFloor.Headroom;

    [Fact]
    public async Task A_server_start_raises_the_minimum_to_the_cores_plus_headroom()
    {
        var shared = await DbServer.SharedAsync(DbEngine.PostgreSql);
        ThreadPool.GetMinThreads(out var workers, out var io);
        try
        {
            Assert.True(ThreadPool.SetMinThreads(Environment.ProcessorCount, io)); // the runtime's default
            ThreadPool.GetMinThreads(out var before, out _);
            Assert.Equal(Environment.ProcessorCount, before); // premise: the minimum really is the core count now

            await using var reached = await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions
            {
                Provider = DbServerProvider.External,
                ConnectionString = shared.AdminConnectionString,
            });

            ThreadPool.GetMinThreads(out var after, out var ioAfter);
            Assert.Equal(Wanted, after);
            Assert.Equal(io, ioAfter); // completion-port threads are left as they were
        }
        finally
        {
            ThreadPool.SetMinThreads(Math.Max(workers, Wanted), io);
        }
    }

    [Fact]
    public void A_higher_minimum_the_user_set_is_kept()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        try
        {
            Assert.True(ThreadPool.SetMinThreads(Wanted + 20, io));
            ThreadPoolFloor.Ensure();
            ThreadPool.GetMinThreads(out var after, out _);
            Assert.Equal(Wanted + 20, after);
        }
        finally
        {
            ThreadPool.SetMinThreads(Math.Max(workers, Wanted), io);
        }
    }
}
