namespace TestDbKit;

/// <summary>Which way a network fault acts.</summary>
public enum NetworkDirection
{
    /// <summary>Both ways.</summary>
    Both,

    /// <summary>From the client to the server (requests).</summary>
    ToServer,

    /// <summary>From the server to the client (replies).</summary>
    ToClient,
}
