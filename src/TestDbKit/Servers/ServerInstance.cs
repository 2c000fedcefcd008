namespace TestDbKit.Servers;

/// <summary>One running server behind a <see cref="DbServer"/>, as a provider made it.</summary>
internal abstract class ServerInstance : IAsyncDisposable
{
    public abstract DbServerProvider Provider { get; }

    public abstract string AdminConnectionString { get; }

    /// <summary>Where the server is, for messages (never with a password).</summary>
    public abstract string Description { get; }

    /// <summary>Whether the kit started this server and may stop, crash or freeze it.</summary>
    public abstract bool IsOwned { get; }

    /// <summary>The server's process id, where the kit runs it as a local process.</summary>
    public virtual int? ProcessId => null;

    /// <summary>The folder holding the server's data and log, where the kit made one.</summary>
    public virtual string? Folder => null;

    /// <summary>The server is kept between runs (<see cref="DbServerOptions.Reuse"/>); null for every other server.</summary>
    internal virtual Reuse.KeptServer? Kept => null;

    /// <summary>Kills the server without warning (every process of it at once), then starts it again on
    /// the same port and data, as a crash and an automatic restart would.</summary>
    public virtual Task CrashAsync(CancellationToken ct) => throw NotOwned("crash");

    /// <summary>Stops the server cleanly and starts it again on the same port and data.</summary>
    public virtual Task RestartAsync(CancellationToken ct) => throw NotOwned("restart");

    /// <summary>Stops every process of the server in its tracks (SIGSTOP) until <see cref="ThawAsync"/>.</summary>
    public virtual Task FreezeAsync(CancellationToken ct) => throw NotOwned("freeze");

    public virtual Task ThawAsync(CancellationToken ct) => throw NotOwned("thaw");

    public abstract ValueTask DisposeAsync();

    private NotSupportedException NotOwned(string what) => new(
        $"Cannot {what} {Description}: {Provider} servers do not support it yet. Use a Local server (DbServerProvider.Local).");
}
