namespace TestDbKit.Benchmarks;

/// <summary>Order statistics of a set of timings, in milliseconds.</summary>
internal sealed record Stats(double Median, double P90, double Min, int Count)
{
    /// <summary>The largest sample: with <see cref="Min"/>, the spread a table states.</summary>
    public double Max { get; init; }

    public static Stats Of(IReadOnlyCollection<double> samples)
    {
        var sorted = samples.Order().ToArray();
        return new Stats(Percentile(sorted, 0.5), Percentile(sorted, 0.9), sorted[0], sorted.Length) { Max = sorted[^1] };
    }

    /// <summary>A ratio as a signed change: 1.04 is "+4%", 0.999 is "+0%" (never "-+0%").</summary>
    public static string Change(double ratio)
    {
        var percent = Math.Round((ratio - 1) * 100);
        return (percent == 0 ? "+0" : percent.ToString("+0;-0", System.Globalization.CultureInfo.InvariantCulture)) + "%";
    }

    private static double Percentile(double[] sorted, double p)
    {
        var rank = p * (sorted.Length - 1);
        var low = (int)Math.Floor(rank);
        var high = (int)Math.Ceiling(rank);
        return sorted[low] + ((sorted[high] - sorted[low]) * (rank - low));
    }
}
