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

    public abstract ValueTask DisposeAsync();
}
