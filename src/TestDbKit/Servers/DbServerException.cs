namespace TestDbKit;

/// <summary>
/// A server could not be started, reached or stopped. The message says what was tried, what went wrong
/// and what to do about it; it never contains a password.
/// </summary>
public sealed class DbServerException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DbServerException(DbEngine engine, DbServerProvider provider, string message, Exception? inner = null)
        : base(message, inner)
    {
        Engine = engine;
        Provider = provider;
    }

    /// <summary>The engine that was asked for.</summary>
    public DbEngine Engine { get; }

    /// <summary>The provider that failed (<see cref="DbServerProvider.Auto"/> when no provider could serve).</summary>
    public DbServerProvider Provider { get; }
}
