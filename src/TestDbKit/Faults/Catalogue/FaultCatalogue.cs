using System.Collections.Concurrent;

namespace TestDbKit.Faults;

/// <summary>
/// The one list of fault kinds: every concrete <see cref="FaultKind"/> of this assembly (one file each under
/// <c>Faults/Catalogue/Kinds/</c>), found once, plus kinds a test registers. <see cref="FaultInjector"/>,
/// <see cref="ChaosSchedule"/>, <c>testdbkit chaos</c>, the owner socket and the run report look kinds up here.
/// </summary>
internal static class FaultCatalogue
{
    private static readonly ConcurrentDictionary<string, FaultKind> Kinds = new(Discover(), StringComparer.Ordinal);

    /// <summary>Every kind, by name.</summary>
    public static IReadOnlyList<FaultKind> All => [.. Kinds.Values.OrderBy(k => k.Name, StringComparer.Ordinal)];

    /// <summary>The kinds a target of <paramref name="targets"/> can inject through the generic path.</summary>
    public static IReadOnlyList<FaultKind> DrivenBy(FaultTargets targets) => [.. All.Where(k => (k.Targets & targets) == targets)];

    /// <summary>The built-in kind of type <typeparamref name="T"/>.</summary>
    public static T Get<T>() where T : FaultKind => Builtin<T>.Instance;

    /// <summary>The kind named <paramref name="name"/> (exactly), or null.</summary>
    public static FaultKind? Find(string name) => Kinds.GetValueOrDefault(name);

    /// <summary>The kind a schedule names <paramref name="fault"/>, or null.</summary>
    public static FaultKind? Find(ChaosFault fault) => Kinds.Values.FirstOrDefault(k => k.Chaos == fault);

    /// <summary>The kind a schedule names <paramref name="fault"/>.</summary>
    public static FaultKind For(ChaosFault fault) =>
        Find(fault)
        ?? throw new ArgumentException($"No fault kind is ChaosFault {fault}; known: {string.Join(", ", All.Where(k => k.Chaos is not null).Select(k => k.Chaos))}.", nameof(fault));

    /// <summary>Adds <paramref name="kind"/> until the returned handle is disposed: how a test proves that a kind
    /// declared nowhere else reaches every driver.</summary>
    internal static IDisposable Register(FaultKind kind)
    {
        ArgumentNullException.ThrowIfNull(kind);
        if (!Kinds.TryAdd(kind.Name, kind))
        {
            throw new ArgumentException($"A fault kind named '{kind.Name}' exists already.", nameof(kind));
        }

        return new Registration(kind);
    }

    private static IEnumerable<KeyValuePair<string, FaultKind>> Discover()
    {
        var kinds = typeof(FaultKind).Assembly.GetTypes()
            .Where(t => t is { IsAbstract: false, IsClass: true } && t.IsSubclassOf(typeof(FaultKind)) && t.GetConstructor(Type.EmptyTypes) is not null)
            .Select(t => (FaultKind)Activator.CreateInstance(t)!)
            .ToList();
        var twice = kinds.GroupBy(k => k.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null)
        {
            throw new InvalidOperationException($"Two fault kinds are named '{twice.Key}': {string.Join(", ", twice.Select(k => k.GetType().Name))}.");
        }

        return kinds.Select(k => KeyValuePair.Create(k.Name, k));
    }

    private sealed class Registration(FaultKind kind) : IDisposable
    {
        public void Dispose() => Kinds.TryRemove(KeyValuePair.Create(kind.Name, kind));
    }

    // Looked up once per kind: every FaultInjector call asks for its kind.
    private static class Builtin<T>
        where T : FaultKind
    {
        public static readonly T Instance = Kinds.Values.OfType<T>().Single();
    }
}
