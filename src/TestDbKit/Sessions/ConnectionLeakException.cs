namespace TestDbKit;

/// <summary>A test left connections open, and leaks are set to fail tests. The kit closed them already.</summary>
public sealed class ConnectionLeakException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ConnectionLeakException(string message)
        : base(message)
    {
    }
}
