namespace TestDbKit.Options;

/// <summary>
/// Which server a <see cref="DbServerOptions"/> asks for, once the <c>TESTDBKIT_*</c> variables have filled in
/// what the options leave unset: two options with equal keys are served by one shared server, so a class that
/// names the image the variable names too shares the server of the classes that name none. The start budget and
/// the logger are not part of it (they do not change which server runs). It holds the external connection
/// string, password included: never print it (its <see cref="ToString"/> does not).
/// </summary>
internal sealed record ServerKey(string Provider, string? ConnectionString, string? Image, string? BinDirectory, string? DataRoot, int? Port, string Settings)
{
    public static ServerKey Of(DbEngine engine, DbServerOptions options) => new(
        // The provider's word as given: a value the variable cannot parse still fails where the server starts.
        (options.Provider != DbServerProvider.Auto ? options.Provider.ToString() : KitEnvironment.Get(KitEnvironment.Provider)?.Trim() ?? nameof(DbServerProvider.Auto))
            .ToLowerInvariant(),
        options.ConnectionString ?? KitEnvironment.ExternalConnectionString(engine)?.ConnectionString,
        options.Image ?? KitEnvironment.Image(engine),
        options.BinDirectory ?? KitEnvironment.BinDirectory(engine),
        options.DataRoot ?? KitEnvironment.DataRootFolder,
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
