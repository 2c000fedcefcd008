namespace TestDbKit.Engines;

/// <summary>A driver's pool settings, with the names a user writes in the connection string.</summary>
internal sealed record ClientPoolSettings(
    bool Pooling,
    TimeSpan IdleLifetime,
    string IdleLifetimeName,
    TimeSpan Lifetime,
    TimeSpan Keepalive,
    string KeepaliveName,
    bool ResetsSessions,
    string ResetName);
