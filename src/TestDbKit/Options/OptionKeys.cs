namespace TestDbKit.Options;

/// <summary>
/// Which server a <see cref="DbServerOptions"/> asks for: two options with equal keys are served by one shared
/// server. The start budget and the logger are not part of it (they do not change which server runs). It holds
/// the external connection string, password included: never print it (its <see cref="ToString"/> does not).
/// </summary>
internal sealed record ServerKey(DbServerProvider Provider, string? ConnectionString, string? Image, string? BinDirectory, string? DataRoot, int? Port, string Settings)
{
    /// <summary>The key of the defaults (<c>new DbServerOptions()</c>): the run-wide shared server.</summary>
    public static readonly ServerKey Default = Of(new DbServerOptions());

    public static ServerKey Of(DbServerOptions options) => new(
        options.Provider,
        options.ConnectionString,
        options.Image,
        options.BinDirectory,
        options.DataRoot,
        options.Port,
        string.Join('\n', options.Settings.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => s.Key + "=" + s.Value)));

    /// <inheritdoc />
    public override string ToString() => "server options (" + Provider + ")";
}

/// <summary>What makes two pools of one schema different: tests share a pool only when these match.</summary>
internal sealed record PoolKey(IsolationMode Isolation, int? MaxDatabases, bool ResetSequences, TimeSpan StaleDatabaseAge)
{
    public static PoolKey Of(DatabasePoolOptions options, IsolationMode isolation) => new(isolation, options.MaxDatabases, options.ResetSequences, options.StaleDatabaseAge);
}
