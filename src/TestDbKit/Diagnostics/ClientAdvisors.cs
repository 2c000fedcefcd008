using TestDbKit.Engines;

namespace TestDbKit.Diagnostics;

/// <summary>Every client doctor can advise (<c>--client</c>), found by key; the default is the engine's .NET driver.</summary>
internal static class ClientAdvisors
{
    /// <summary>All clients: the engines' .NET drivers and Python drivers, then the frameworks on top of them.</summary>
    public static IReadOnlyList<ClientAdvisor> All { get; } =
    [
        .. EngineClients.All.Select(c => (ClientAdvisor)c.Driver),
        .. EngineClients.All.Select(c => c.Python),
        SqlAlchemyAdvisor.Instance, DjangoAdvisor.Instance, EfCoreAdvisor.Instance,
    ];

    public static IReadOnlyList<string> Keys { get; } = [.. All.Select(c => c.Key)];

    /// <summary>The client named <paramref name="key"/> (case-insensitive); throws naming the known ones.</summary>
    public static ClientAdvisor Find(string key) =>
        All.FirstOrDefault(c => c.Key.Equals(key, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"'{key}' is not a client doctor knows; choose from {string.Join(", ", Keys)}.", nameof(key));

    /// <summary>The client used when none is named: the engine's .NET driver.</summary>
    public static ClientAdvisor Default(DbEngine engine) => EngineClients.For(engine).Driver;
}
