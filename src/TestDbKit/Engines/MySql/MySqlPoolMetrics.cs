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
    private readonly ConcurrentDictionary<string, long> _idle = new(StringComparer.Ordinal);

    public override string MeterName => "MySqlConnector";

    public override string InstrumentName => "db.client.connections.usage";

    public override long InUse(string applicationName, Action recordObservables) =>
        _used.TryGetValue(applicationName, out var used) ? used : 0;

    // MySqlConnector names a pool by the string's Application Name: every pool of one tag (the kit's string,
    // Pomelo's rewrite of it, shaped ones) adds to one total.
    public override long? Held(string applicationName, Action recordObservables) =>
        InUse(applicationName, recordObservables) + (_idle.TryGetValue(applicationName, out var idle) ? idle : 0);

    public override void OnMeasurement(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (Tag(tags, PoolTag) is not { } pool)
        {
            return;
        }

        var totals = Tag(tags, StateTag) switch
        {
            "used" => _used,
            "idle" => _idle,
            _ => null,
        };
        totals?.AddOrUpdate(pool, value, (_, total) => total + value);
    }
}
