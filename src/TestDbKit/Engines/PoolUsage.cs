using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Npgsql;

namespace TestDbKit.Engines;

/// <summary>
/// How many connections the drivers' pools have handed out and not taken back, per application name, read
/// from the drivers' own metrics: Npgsql's <c>db.client.connection.count</c> and MySqlConnector's
/// <c>db.client.connections.usage</c> (state <c>used</c>). A connection a test opened itself and never
/// disposed stays "used" there, while the server cannot tell it from an idle pooled session: this is how
/// the kit counts leaks of connections it did not hand out.
/// </summary>
internal static class PoolUsage
{
    private const string NpgsqlMeter = "Npgsql";
    private const string NpgsqlCount = "db.client.connection.count";
    private const string NpgsqlPoolTag = "db.client.connection.pool.name";
    private const string NpgsqlStateTag = "db.client.connection.state";
    private const string MySqlMeter = "MySqlConnector";
    private const string MySqlUsage = "db.client.connections.usage";
    private const string MySqlPoolTag = "pool.name";
    private const string MySqlStateTag = "state";

    // MySqlConnector reports changes (an up-down counter): keep the running total of used connections per pool.
    private static readonly ConcurrentDictionary<string, long> MySqlUsed = new(StringComparer.Ordinal);

    // Npgsql's pool names are connection strings without the password: parse each once.
    private static readonly ConcurrentDictionary<string, string> NpgsqlApplicationNames = new(StringComparer.Ordinal);

    private static readonly Lock NpgsqlGate = new();
    private static readonly MeterListener Listener = CreateListener();
    private static string? _wanted;
    private static long _npgsqlUsed;

    /// <summary>Starts listening; call before the first connection whose use should be counted (MySqlConnector
    /// reports only changes, so connections opened earlier are not seen).</summary>
    public static void Start() => GC.KeepAlive(Listener);

    /// <summary>Connections of pools tagged <paramref name="applicationName"/> that are out of the pool now.</summary>
    public static long InUse(DbEngine engine, string applicationName)
    {
        if (engine == DbEngine.MySql)
        {
            return MySqlUsed.TryGetValue(applicationName, out var used) ? used : 0;
        }

        lock (NpgsqlGate)
        {
            _wanted = applicationName;
            _npgsqlUsed = 0;
            Listener.RecordObservableInstruments(); // Npgsql's count is observed: it answers now, pool by pool
            _wanted = null;
            return _npgsqlUsed;
        }
    }

    private static MeterListener CreateListener()
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if ((instrument.Meter.Name, instrument.Name) is (NpgsqlMeter, NpgsqlCount) or (MySqlMeter, MySqlUsage))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => OnMeasurement(instrument, value, tags));
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => OnMeasurement(instrument, value, tags));
        listener.Start();
        return listener;
    }

    private static void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (instrument.Meter.Name == MySqlMeter)
        {
            if (Tag(tags, MySqlStateTag) == "used" && Tag(tags, MySqlPoolTag) is { } pool)
            {
                MySqlUsed.AddOrUpdate(pool, value, (_, total) => total + value);
            }

            return;
        }

        // Npgsql: called from RecordObservableInstruments, inside NpgsqlGate.
        if (_wanted is { } wanted && Tag(tags, NpgsqlStateTag) == "used" && Tag(tags, NpgsqlPoolTag) is { } name
            && NpgsqlApplicationNames.GetOrAdd(name, ApplicationNameOf) == wanted)
        {
            _npgsqlUsed += value;
        }
    }

    private static string? Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string key)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == key)
            {
                return tag.Value as string;
            }
        }

        return null;
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
