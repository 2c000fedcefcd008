using System.Collections.Concurrent;

namespace TestDbKit.Engines;

/// <summary>MySqlConnector's <c>db.client.connections.usage</c> (state <c>used</c>): an up-down counter that
/// reports changes, kept here as a running total per pool.</summary>
internal sealed class MySqlPoolMetrics : DriverPoolMetrics
{
    public static readonly MySqlPoolMetrics Instance = new();

    private const string PoolTag = "pool.name";
    private const string StateTag = "state";

    private readonly ConcurrentDictionary<string, long> _used = new(StringComparer.Ordinal);

    public override string MeterName => "MySqlConnector";

    public override string InstrumentName => "db.client.connections.usage";

    public override long InUse(string applicationName, Action recordObservables) =>
        _used.TryGetValue(applicationName, out var used) ? used : 0;

    public override void OnMeasurement(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (Tag(tags, StateTag) == "used" && Tag(tags, PoolTag) is { } pool)
        {
            _used.AddOrUpdate(pool, value, (_, total) => total + value);
        }
    }
}
