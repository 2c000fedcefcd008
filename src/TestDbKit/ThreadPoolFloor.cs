namespace TestDbKit;

/// <summary>
/// Keeps a few thread-pool threads free for the kit's awaits. Test hosts hold pool threads for the whole run (VSTest's
/// test host polls its message channel on one). The pool's minimum is the core count, so on a 2-core machine the
/// pool is soon starved and every continuation waits for it to add a thread, about 0.5 s each time (measured: a
/// one-test run's first body 1.6 s after the host's start, 1.0 s with one more thread; <c>bench loop</c>). The
/// minimum is only ever raised, never lowered below what the user set.
/// </summary>
internal static class ThreadPoolFloor
{
    /// <summary>Threads beyond the core count: room for the host's blocked ones and a few parallel tests' I/O.</summary>
    internal const int Headroom = 4;

    /// <summary>Raises the pool's minimum worker threads to the core count plus <see cref="Headroom"/>, if below.</summary>
    public static void Ensure()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        var wanted = Environment.ProcessorCount + Headroom;
        if (workers < wanted)
        {
            ThreadPool.SetMinThreads(wanted, io);
        }
    }
}
