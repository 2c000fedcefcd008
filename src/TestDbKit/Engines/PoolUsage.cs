using System.Diagnostics.Metrics;

namespace TestDbKit.Engines;

/// <summary>
/// How many connections the drivers' pools have handed out and not taken back, per application name, read
/// from the drivers' own metrics (each engine's <see cref="DriverPoolMetrics"/> names its instrument). A
/// connection a test opened itself and never disposed stays "used" there, while the server cannot tell it
/// from an idle pooled session: this is how the kit counts leaks of connections it did not hand out.
/// </summary>
internal static class PoolUsage
{
    private static readonly MeterListener Listener = CreateListener();

    /// <summary>Starts listening; call before the first connection whose use should be counted (some drivers
    /// report only changes, so connections opened earlier are not seen).</summary>
    public static void Start() => GC.KeepAlive(Listener);

    /// <summary>Connections of pools tagged <paramref name="applicationName"/> that are out of the pool now.</summary>
    public static long InUse(DbEngine engine, string applicationName) =>
        EngineRegistry.Module(engine).PoolMetrics.InUse(applicationName, Listener.RecordObservableInstruments);

    /// <summary>Connections of pools tagged <paramref name="applicationName"/> that hold a server session now, in
    /// use or idle in the pool; null where the driver's metrics cannot tell.</summary>
    public static long? Held(DbEngine engine, string applicationName) =>
        EngineRegistry.Module(engine).PoolMetrics.Held(applicationName, Listener.RecordObservableInstruments);

    private static MeterListener CreateListener()
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (MetricsOf(instrument) is { } metrics)
                {
                    l.EnableMeasurementEvents(instrument, metrics); // found once: measurements come on every open and close
                }
            },
        };
        listener.SetMeasurementEventCallback<int>((_, value, tags, metrics) => ((DriverPoolMetrics)metrics!).OnMeasurement(value, tags));
        listener.SetMeasurementEventCallback<long>((_, value, tags, metrics) => ((DriverPoolMetrics)metrics!).OnMeasurement(value, tags));
        listener.Start();
        return listener;
    }

    private static DriverPoolMetrics? MetricsOf(Instrument instrument) =>
        EngineRegistry.Modules.Select(m => m.PoolMetrics)
            .FirstOrDefault(p => p.MeterName == instrument.Meter.Name && p.InstrumentName == instrument.Name);
}

/// <summary>One driver's pool metric: which instrument it is, and how to read connections in use from it.</summary>
internal abstract class DriverPoolMetrics
{
    public abstract string MeterName { get; }

    public abstract string InstrumentName { get; }

    /// <summary>Takes one measurement of the instrument.</summary>
    public abstract void OnMeasurement(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags);

    /// <summary>Connections of pools tagged <paramref name="applicationName"/> out of the pool now;
    /// <paramref name="recordObservables"/> makes observed instruments report now.</summary>
    public abstract long InUse(string applicationName, Action recordObservables);

    /// <summary>Connections of pools tagged <paramref name="applicationName"/> holding a server session, in use or
    /// idle; null where this driver's metrics are not read that way.</summary>
    public virtual long? Held(string applicationName, Action recordObservables) => null;

    protected static string? Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string key)
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
}
