using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

namespace TestDbKit.Diagnostics;

/// <summary>
/// The run report as one HTML page that needs nothing else: inline CSS, an inline SVG timeline (a row per
/// fault kind, per error classification, and the recoveries as bars from first error to success), and
/// tables. Everything that comes from data is HTML-encoded.
/// </summary>
internal static class RunReportHtml
{
    private const int ChartWidth = 960;
    private const int LabelWidth = 190;
    private const int RowHeight = 24;
    private const int MaxTableRows = 500;

    private static readonly string[] Palette = ["#d1495b", "#edae49", "#00798c", "#30638e", "#8f2d56", "#6a4c93", "#2a9d8f", "#e76f51"];

    private static readonly Dictionary<string, string> ErrorColors = new(StringComparer.Ordinal)
    {
        ["connection lost"] = "#d1495b",
        ["transaction aborted"] = "#edae49",
        ["integrity violation"] = "#6a4c93",
        ["other transient"] = "#00798c",
        ["not transient"] = "#333333",
    };

    public static string Render(RunReport report)
    {
        var inv = CultureInfo.InvariantCulture;
        var html = new StringBuilder();
        var seeds = report.Seeds.Count == 0 ? "none" : string.Join(", ", report.Seeds.Select(s => s.ToString(inv)));
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        html.Append(inv, $"<title>TestDbKit report: {E(report.Name)}</title>");
        html.Append("<style>")
            .Append("body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;max-width:1040px}")
            .Append("h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}.sub{color:#666;margin:0 0 16px}")
            .Append(".cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:118px}")
            .Append(".card b{display:block;font-size:22px}.card span{color:#666;font-size:13px}")
            .Append("table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #eee;padding:4px 10px;text-align:left;vertical-align:top}")
            .Append("th{background:#f6f6f6}.num{text-align:right;font-variant-numeric:tabular-nums}.bad{color:#b00020}")
            .Append("svg text{font-family:inherit;font-size:12px}code{background:#f3f3f3;padding:1px 4px;border-radius:3px}")
            .Append("</style></head><body>\n");
        html.Append(inv, $"<h1>TestDbKit run report: {E(report.Name)}</h1>");
        html.Append(inv, $"<p class=\"sub\">Started {E(report.Started.ToString("yyyy-MM-dd HH:mm:ss", inv))} UTC, {report.Elapsed.TotalSeconds:0.0} s. Chaos seed: <b>{E(seeds)}</b>");
        if (report.SeedSources.Count > 0)
        {
            // Each seed replays through what used it.
            var replays = report.SeedSources.DistinctBy(s => (s.Seed, s.Source)).Select(s => s.Source == nameof(ChaosSchedule)
                ? $"<code>TESTDBKIT_CHAOS_SEED={s.Seed}</code>"
                : $"<code>{E(s.Source)} --seed {s.Seed}</code>");
            html.Append(" (replay: ").AppendJoin(", ", replays).Append(')');
        }

        html.Append("</p>\n<div class=\"cards\">");
        Card(html, report.Tests.ToString(inv), "tests");
        Card(html, report.FaultsByKind.Values.Sum().ToString(inv), "faults injected");
        Card(html, report.ErrorsByClassification.Values.Sum().ToString(inv), "client errors");
        Card(html, report.RecoveryTimes.Count.ToString(inv), $"recoveries ({report.FailedRecoveries} failed)");
        Card(html, report.MedianRecoveryTime is { } p50 ? RunReport.Milliseconds(p50) : "-", "time to recover, p50");
        Card(html, report.MaxRecoveryTime is { } max ? RunReport.Milliseconds(max) : "-", "time to recover, max");
        html.Append("</div>\n<h2>Timeline</h2>\n");
        Timeline(html, report);
        html.Append("<h2>Faults injected, by kind</h2>\n");
        CountTable(html, report.FaultsByKind, "Fault");
        html.Append("<h2>Client errors, by classification</h2>\n");
        CountTable(html, report.ErrorsByClassification, "Classification");
        if (report.Leaks.Count > 0)
        {
            html.Append("<h2>Leaked connections, by test</h2>\n<ul>\n");
            foreach (var leak in report.Leaks)
            {
                html.Append("<li>").Append(E(leak)).Append("</li>\n");
            }

            html.Append("</ul>\n");
        }

        html.Append("<h2>Recoveries</h2>\n");
        RecoveryTable(html, report);
        html.Append("<h2>Events</h2>\n");
        EventTable(html, report);
        html.Append(inv, $"<p class=\"sub\" style=\"margin-top:16px\">Tests (base classes): {report.Tests}; connections discarded: {report.DiscardedConnections}; leaked: {report.LeakedConnections}. Written by TestDbKit.</p>\n");
        html.Append("</body></html>\n");
        return html.ToString();
    }

    private static void Card(StringBuilder html, string value, string label) =>
        html.Append(CultureInfo.InvariantCulture, $"<div class=\"card\"><b>{E(value)}</b><span>{E(label)}</span></div>");

    private static void Timeline(StringBuilder html, RunReport report)
    {
        var inv = CultureInfo.InvariantCulture;
        var recoveries = report.Recoveries.Select(r => (Start: r.Timestamp - Ticks(r.TimeToRecover), r)).ToList();
        var stamps = report.Faults.Select(f => f.Timestamp).Concat(report.Errors.Select(e => e.Timestamp))
            .Concat(recoveries.SelectMany(r => new[] { r.Start, r.r.Timestamp })).ToList();
        if (stamps.Count == 0)
        {
            html.Append("<p>No fault, client error or recovery was recorded.</p>\n");
            return;
        }

        var from = stamps.Min();
        var to = Math.Max(stamps.Max(), from + (Stopwatch.Frequency / 10));
        var span = (double)(to - from);
        var plot = ChartWidth - LabelWidth - 20;
        double X(long t) => LabelWidth + ((t - from) / span * plot);

        // Grouped once, by the fault kind's catalogue name: a write must not cost rows x events.
        var faultsByKind = report.Faults.GroupBy(f => f.Kind, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var errorsByKind = report.Errors.GroupBy(e => e.Classification, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var faultKinds = faultsByKind.Keys.Order(StringComparer.Ordinal).ToList();
        var errorKinds = errorsByKind.Keys.Order(StringComparer.Ordinal).ToList();
        var rows = faultKinds.Count + errorKinds.Count + (recoveries.Count > 0 ? 1 : 0);
        var height = (rows * RowHeight) + 60;
        var svg = new StringBuilder();
        svg.Append(inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{ChartWidth}\" height=\"{height}\" viewBox=\"0 0 {ChartWidth} {height}\" role=\"img\" aria-label=\"Timeline of faults, client errors and recoveries\">");
        svg.Append(inv, $"<rect x=\"0\" y=\"0\" width=\"{ChartWidth}\" height=\"{height}\" fill=\"#fff\"/>");

        // Time axis: about eight ticks at round seconds or milliseconds.
        var seconds = span / Stopwatch.Frequency;
        var step = NiceStep(seconds / 8);
        var axisY = (rows * RowHeight) + 20;
        for (var s = 0.0; s <= seconds + 1e-9; s += step)
        {
            var x = X(from + (long)(s * Stopwatch.Frequency));
            svg.Append(inv, $"<line x1=\"{x:0.#}\" y1=\"10\" x2=\"{x:0.#}\" y2=\"{axisY}\" stroke=\"#eee\"/>");
            svg.Append(inv, $"<text x=\"{x:0.#}\" y=\"{axisY + 16}\" text-anchor=\"middle\" fill=\"#666\">{(step < 1 ? $"{s * 1000:0} ms" : $"{s:0.#} s")}</text>");
        }

        svg.Append(inv, $"<text x=\"{LabelWidth}\" y=\"{axisY + 34}\" fill=\"#666\">time from the first event ({E(FormatAt(report, from))} UTC)</text>");
        var row = 0;
        for (var i = 0; i < faultKinds.Count; i++, row++)
        {
            var kind = faultKinds[i];
            var color = Palette[i % Palette.Length];
            var y = 10 + (row * RowHeight);
            Label(svg, y, "fault: " + kind);
            foreach (var (x, first, more) in PerPixel(faultsByKind[kind], f => X(f.Timestamp)))
            {
                svg.Append(inv, $"<rect x=\"{x - 1.5:0.#}\" y=\"{y + 3}\" width=\"3\" height=\"{RowHeight - 6}\" fill=\"{color}\"><title>{E($"{first.At:HH:mm:ss.fff} {first.Fault} on {first.Target}{More(more)}")}</title></rect>");
            }
        }

        foreach (var kind in errorKinds)
        {
            var color = ErrorColors.GetValueOrDefault(kind, "#555");
            var y = 10 + (row++ * RowHeight);
            Label(svg, y, "error: " + kind);
            foreach (var (x, error, more) in PerPixel(errorsByKind[kind], e => X(e.Timestamp)))
            {
                svg.Append(inv, $"<circle cx=\"{x:0.#}\" cy=\"{y + (RowHeight / 2)}\" r=\"4\" fill=\"{color}\" fill-opacity=\"0.7\"><title>{E($"{error.At:HH:mm:ss.fff} {error.Type}: {error.Message}{More(more)}")}</title></circle>");
            }
        }

        if (recoveries.Count > 0)
        {
            var y = 10 + (row * RowHeight);
            Label(svg, y, "time to recover");
            // One bar per start pixel, end pixel and outcome: bars that would be drawn over each other are drawn once.
            foreach (var group in recoveries.GroupBy(r => ((int)X(r.Start), (int)X(r.r.Timestamp), r.r.Recovered)))
            {
                var (start, recovery) = group.First();
                var x1 = X(start);
                var width = Math.Max(2, X(recovery.Timestamp) - x1);
                var color = recovery.Recovered ? "#2a9d8f" : "#b00020";
                var what = recovery.Recovered ? "recovered in" : "did not recover after";
                svg.Append(inv, $"<rect x=\"{x1:0.#}\" y=\"{y + 5}\" width=\"{width:0.#}\" height=\"{RowHeight - 10}\" fill=\"{color}\" fill-opacity=\"0.75\"><title>{E($"{recovery.What}: {what} {RunReport.Milliseconds(recovery.TimeToRecover)}{More(group.Count() - 1)}")}</title></rect>");
            }
        }

        svg.Append("</svg>");
        html.Append(svg).Append('\n');
    }

    /// <summary>One mark per pixel of the chart, with how many more events it stands for: thousands of events
    /// drawn over each other look the same as one, and cost a write that runs on a test's path.</summary>
    private static IEnumerable<(double X, T First, int More)> PerPixel<T>(List<T> events, Func<T, double> x) =>
        events.GroupBy(e => (int)Math.Round(x(e))).Select(g => (x(g.First()), g.First(), g.Count() - 1));

    private static string More(int more) => more == 0 ? "" : string.Create(CultureInfo.InvariantCulture, $" (and {more} more here)");

    private static void Label(StringBuilder svg, int y, string text)
    {
        var shown = text.Length > 28 ? text[..27] + "…" : text;
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{LabelWidth - 8}\" y=\"{y + 16}\" text-anchor=\"end\">{E(shown)}<title>{E(text)}</title></text>");
        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{LabelWidth}\" y1=\"{y + RowHeight}\" x2=\"{ChartWidth - 20}\" y2=\"{y + RowHeight}\" stroke=\"#f0f0f0\"/>");
    }

    private static void CountTable(StringBuilder html, IReadOnlyDictionary<string, int> counts, string what)
    {
        if (counts.Count == 0)
        {
            html.Append("<p>None.</p>\n");
            return;
        }

        html.Append(CultureInfo.InvariantCulture, $"<table><tr><th>{E(what)}</th><th class=\"num\">Count</th></tr>");
        foreach (var (name, count) in counts.OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal))
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(name)}</td><td class=\"num\">{count}</td></tr>");
        }

        html.Append("</table>\n");
    }

    private static void RecoveryTable(StringBuilder html, RunReport report)
    {
        if (report.Recoveries.Count == 0)
        {
            html.Append("<p>None: no operation under <code>Resilience.AssertRecoversAsync</code> or <code>testdbkit chaos</code> met a fault.</p>\n");
            return;
        }

        // By test first: which test recovered how often and how fast, and which did not.
        html.Append("<table><tr><th>Test</th><th>Engine</th><th class=\"num\">Recoveries</th><th class=\"num\">p50</th><th class=\"num\">Max</th><th class=\"num\">Failed</th></tr>");
        foreach (var t in report.RecoveriesByTest.Take(MaxTableRows))
        {
            var failed = t.Failed == 0 ? "0" : $"<span class=\"bad\">{t.Failed}</span>";
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(t.Test ?? NoTest)}</td><td>{E(EngineName(t.Engine))}</td><td class=\"num\">{t.Recovered}</td><td class=\"num\">{E(t.Median is { } p50 ? RunReport.Milliseconds(p50) : "-")}</td><td class=\"num\">{E(t.Max is { } max ? RunReport.Milliseconds(max) : "-")}</td><td class=\"num\">{failed}</td></tr>");
        }

        html.Append("</table>\n<h3>Each recovery</h3>\n");
        html.Append("<table><tr><th>Ended (UTC)</th><th>Test</th><th>Engine</th><th>What</th><th class=\"num\">Time to recover</th><th>Result</th></tr>");
        foreach (var r in report.Recoveries.TakeLast(MaxTableRows))
        {
            var result = r.Recovered ? "recovered" : "<span class=\"bad\">did not recover</span>";
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(r.At.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture))}</td><td>{E(r.Test ?? NoTest)}</td><td>{E(EngineName(r.Engine))}</td><td>{E(r.What)}</td><td class=\"num\">{E(RunReport.Milliseconds(r.TimeToRecover))}</td><td>{result}</td></tr>");
        }

        html.Append("</table>\n");
    }

    private static void EventTable(StringBuilder html, RunReport report)
    {
        var events = report.Faults.Select(f => (f.Timestamp, f.At, What: "fault", f.Test, f.Engine, Text: $"{f.Fault} on {f.Target}"))
            .Concat(report.Errors.Select(e => (e.Timestamp, e.At, What: "error: " + e.Classification, e.Test, e.Engine, Text: $"{e.Type}: {e.Message}")))
            .OrderBy(e => e.Timestamp).ToList();
        if (events.Count == 0)
        {
            html.Append("<p>None.</p>\n");
            return;
        }

        if (events.Count > MaxTableRows)
        {
            html.Append(CultureInfo.InvariantCulture, $"<p>The last {MaxTableRows} of {events.Count} events.</p>");
        }

        html.Append("<table><tr><th>At (UTC)</th><th>Test</th><th>Engine</th><th>Event</th><th>Detail</th></tr>");
        foreach (var e in events.TakeLast(MaxTableRows))
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(e.At.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture))}</td><td>{E(e.Test ?? NoTest)}</td><td>{E(EngineName(e.Engine))}</td><td>{E(e.What)}</td><td>{E(e.Text)}</td></tr>");
        }

        html.Append("</table>\n");
    }

    private static string FormatAt(RunReport report, long timestamp) =>
        (report.Started + Stopwatch.GetElapsedTime(report.StartedTimestamp, timestamp)).ToString("HH:mm:ss", CultureInfo.InvariantCulture);

    private static long Ticks(TimeSpan time) => (long)(time.TotalSeconds * Stopwatch.Frequency);

    private static double NiceStep(double raw)
    {
        if (raw <= 0)
        {
            return 0.001;
        }

        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var fraction = raw / magnitude;
        return magnitude * (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10);
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);

    /// <summary>What a row outside any test says: a chaos run of the tool, or the kit's own background work.</summary>
    internal const string NoTest = "(no test)";

    internal static string EngineName(DbEngine? engine) => engine is { } known ? Engines.EngineRegistry.For(known).Name : "-";
}
