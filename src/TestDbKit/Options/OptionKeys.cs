namespace TestDbKit.Options;

/// <summary>
/// Which server a <see cref="DbServerOptions"/> asks for once resolved (<see cref="ResolvedServerOptions"/>): two
/// options with equal keys are served by one shared server. The start budget and the logger are not part of it
/// (they do not change which server runs). It holds the external connection string, password included: never
/// print it (its <see cref="ToString"/> does not).
/// </summary>
internal sealed record ServerKey(DbServerProvider Provider, string? ProviderError, string? ConnectionString, string Image, string? BinDirectory, string? Flavour, string? DataRoot, int? Port, string? Reuse, string Settings)
{
    public static ServerKey Of(DbEngine engine, DbServerOptions options) => ResolvedServerOptions.Of(engine, options).Key;

    /// <inheritdoc />
    public override string ToString() => "server options (" + Provider + ")";
}

/// <summary>What makes two pools of one schema different: tests share a pool only when these match.</summary>
internal sealed record PoolKey(IsolationMode Isolation, int? MaxDatabases, bool ResetSequences, TimeSpan StaleDatabaseAge, string SchemaFiles)
{
    public static PoolKey Of(DatabasePoolOptions options, IsolationMode isolation) =>
        new(isolation, options.MaxDatabases, options.ResetSequences, options.StaleDatabaseAge,
            string.Join('\n', (options.SchemaFiles ?? []).Order(StringComparer.Ordinal)));
}
