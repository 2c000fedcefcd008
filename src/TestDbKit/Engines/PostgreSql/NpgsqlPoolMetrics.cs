using System.Collections.Concurrent;
using Npgsql;

namespace TestDbKit.Engines;

/// <summary>Npgsql's <c>db.client.connection.count</c> (state <c>used</c>): an observed instrument, asked pool
/// by pool when read.</summary>
internal sealed class NpgsqlPoolMetrics : DriverPoolMetrics
{
    public static readonly NpgsqlPoolMetrics Instance = new();

    private const string PoolTag = "db.client.connection.pool.name";
    private const string StateTag = "db.client.connection.state";

    // Npgsql's pool names are connection strings without the password: parse each once.
    private readonly ConcurrentDictionary<string, string> _applicationNames = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private string? _wanted;
    private long _used;

    public override string MeterName => "Npgsql";

    public override string InstrumentName => "db.client.connection.count";

    public override long InUse(string applicationName, Action recordObservables)
    {
        lock (_gate)
        {
            _wanted = applicationName;
            _used = 0;
            recordObservables(); // Npgsql's count is observed: it answers now, pool by pool
            _wanted = null;
            return _used;
        }
    }

    // Called from recordObservables, inside the gate.
    public override void OnMeasurement(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (_wanted is { } wanted && Tag(tags, StateTag) == "used" && Tag(tags, PoolTag) is { } name
            && _applicationNames.GetOrAdd(name, ApplicationNameOf) == wanted)
        {
            _used += value;
        }
    }

    private static string ApplicationNameOf(string poolName)
    {
        try
        {
            return new NpgsqlConnectionStringBuilder(poolName).ApplicationName ?? "";
        }
        catch (ArgumentException)
        {
            return ""; // a data source the user named: not one of the kit's
        }
    }
}
