namespace TestDbKit.Engines;

/// <summary>
/// The one list of engines the kit supports. Everything outside <c>Engines/</c> finds an engine's parts here,
/// by <see cref="DbEngine"/> or by its key (the CLI's <c>--engine</c> value), so a third engine is one new
/// folder plus one line below, and an unknown one fails loudly instead of falling into another's branch.
/// </summary>
internal static class EngineRegistry
{
    /// <summary>Every registered engine, in the order the kit lists them.</summary>
    public static IReadOnlyList<EngineDialect> All { get; } = [PostgreSqlDialect.Instance, MySqlDialect.Instance];

    /// <summary>The keys (<c>postgres</c>, <c>mysql</c>) in <see cref="All"/>'s order.</summary>
    public static IReadOnlyList<string> Keys { get; } = [.. All.Select(e => e.Key)];

    /// <summary>The engine registered for <paramref name="engine"/>.</summary>
    public static EngineDialect For(DbEngine engine) =>
        All.FirstOrDefault(e => e.Engine == engine)
        ?? throw new ArgumentOutOfRangeException(nameof(engine), engine,
            $"No engine is registered for DbEngine.{engine}; registered: {string.Join(", ", All.Select(e => e.Engine))}.");

    /// <summary>The engine whose key is <paramref name="key"/> (ordinal, case-insensitive).</summary>
    public static EngineDialect FromKey(string key) =>
        All.FirstOrDefault(e => string.Equals(e.Key, key, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"'{key}' is not an engine; choose from {string.Join(", ", Keys)}.", nameof(key));
}
