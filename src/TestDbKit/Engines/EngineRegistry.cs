namespace TestDbKit.Engines;

/// <summary>
/// The one list of engines the kit supports. Everything outside <c>Engines/</c> finds an engine's parts here,
/// by <see cref="DbEngine"/> or by its key (the CLI's <c>--engine</c> value), so a third engine is one new
/// folder plus one line below, and an unknown one fails loudly instead of falling into another's branch.
/// </summary>
internal static class EngineRegistry
{
    /// <summary>Every registered engine's module (all its parts), in the order the kit lists them.</summary>
    public static IReadOnlyList<EngineModule> Modules { get; } = [PostgreSqlModule.Instance, MySqlModule.Instance];

    /// <summary>Every registered engine's dialect, in <see cref="Modules"/>' order.</summary>
    public static IReadOnlyList<EngineDialect> All { get; } = [.. Modules.Select(m => m.Dialect)];

    /// <summary>The keys (<c>postgres</c>, <c>mysql</c>) in <see cref="All"/>'s order.</summary>
    public static IReadOnlyList<string> Keys { get; } = [.. Modules.Select(e => e.Key)];

    /// <summary>The dialect of the engine registered for <paramref name="engine"/>.</summary>
    public static EngineDialect For(DbEngine engine) => Module(engine).Dialect;

    /// <summary>The module (every part) of the engine registered for <paramref name="engine"/>.</summary>
    public static EngineModule Module(DbEngine engine) =>
        Modules.FirstOrDefault(e => e.Engine == engine)
        ?? throw new ArgumentOutOfRangeException(nameof(engine), engine,
            $"No engine is registered for DbEngine.{engine}; registered: {string.Join(", ", Modules.Select(e => e.Engine))}.");

    /// <summary>The dialect of the engine whose key is <paramref name="key"/> (ordinal, case-insensitive).</summary>
    public static EngineDialect FromKey(string key) => ModuleFromKey(key).Dialect;

    /// <summary>The module of the engine whose key is <paramref name="key"/> (ordinal, case-insensitive).</summary>
    public static EngineModule ModuleFromKey(string key) =>
        Modules.FirstOrDefault(e => string.Equals(e.Key, key, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"'{key}' is not an engine; choose from {string.Join(", ", Keys)}.", nameof(key));
}
