namespace TestDbKit.Sessions;

/// <summary>
/// What <c>[ResetConnection]</c> does in both adapters: closes every idle pooled connection of every
/// engine's driver, so the next open starts a brand-new server session (Django's <c>close_old_connections()</c>).
/// Synchronous on purpose: the drivers clear their pools without I/O waits, so framework hooks that must
/// be synchronous (xunit's <c>BeforeAfterTestAttribute</c>) can call it without blocking on async work.
/// </summary>
internal static class ConnectionReset
{
    private static long _generation;

    /// <summary>Increases with every reset; a session compares it to tell whether its connection predates one.</summary>
    public static long Generation => Interlocked.Read(ref _generation);

    public static void ClearAllPools()
    {
        Interlocked.Increment(ref _generation);
        foreach (var dialect in Engines.EngineRegistry.All)
        {
            dialect.ClearAllPools();
        }
    }
}
