using TestDbKit.Engines;

namespace TestDbKit.Diagnostics;

/// <summary>
/// Django's persistent connections on either engine. At the start and end of each request Django closes a
/// connection older than <c>CONN_MAX_AGE</c> seconds (0, the default: close after every request; None: never), so
/// a maximum age below the server's timeout means no reused connection idled that long; with
/// <c>CONN_HEALTH_CHECKS=True</c> (Django 4.1+) it also tests a reused connection at the start of a request.
/// Outside requests (management commands, Celery tasks, threads) nothing runs unless the code calls
/// <c>django.db.close_old_connections()</c>.
/// </summary>
internal sealed class DjangoAdvisor : ClientAdvisor
{
    public static DjangoAdvisor Instance { get; } = new();

    public override string Key => "django";

    public override string Name => "Django";

    public override bool Supports(DbEngine engine) => true;

    public override IReadOnlyList<ResilienceAdvice> Advise(DbEngine engine, ClientSettings settings, ServerTimeouts server)
    {
        var advice = new List<ResilienceAdvice>();
        var (maxAgeSet, maxAge) = settings.Seconds("CONN_MAX_AGE", "None");
        if (!maxAgeSet)
        {
            maxAge = 0; // Django's default
        }

        var healthChecks = settings.Flag("CONN_HEALTH_CHECKS") ?? false;
        var setting = $"CONN_MAX_AGE vs server {server.IdleSetting}";
        if (server.Idle <= TimeSpan.Zero)
        {
            advice.Add(NoServerTimeout(setting, server));
        }
        else if (healthChecks)
        {
            advice.Add(Advice(AdviceLevel.Info, AdviceKinds.IdleTimeout, setting,
                "CONN_HEALTH_CHECKS=True tests a reused connection at the start of each request and reconnects a dead one (Django 4.1+).",
                "Nothing to change."));
        }
        else if (maxAge == 0)
        {
            advice.Add(Advice(AdviceLevel.Info, AdviceKinds.IdleTimeout, setting,
                "CONN_MAX_AGE=0 closes the connection at the end of each request: none can go stale between requests, but each request pays for a connect.",
                "Nothing to change."));
        }
        else if (maxAge is > 0 && maxAge.Value < server.Idle.TotalSeconds)
        {
            advice.Add(Advice(AdviceLevel.Info, AdviceKinds.IdleTimeout, setting,
                $"CONN_MAX_AGE={maxAge} closes a connection older than that at the next request's start, before the server's {Seconds(server.Idle)}.",
                "Nothing to change."));
        }
        else
        {
            var finding = (maxAge is null ? "CONN_MAX_AGE=None keeps connections for ever" : $"CONN_MAX_AGE={maxAge} is not below the server's timeout") +
                $": a connection idle between requests for {Seconds(server.Idle)} is closed by the server, and the next request's first query raises django.db.utils.OperationalError ({server.LostError}).";
            var n = WholeSecondsBelow(server.Idle) ?? 0;
            advice.Add(Advice(AdviceLevel.Problem, AdviceKinds.IdleTimeout, setting, finding,
                (n > 0
                    ? $"Set DATABASES[...][\"CONN_MAX_AGE\"] = {Whole(n)} (strictly below the server's {Seconds(server.Idle)})"
                    : $"At {Seconds(server.Idle)} keep no connection between requests: set DATABASES[...][\"CONN_MAX_AGE\"] = 0, or give the server a longer {server.IdleSetting}") +
                ", or, on Django 4.1+, CONN_HEALTH_CHECKS = True.", ("CONN_MAX_AGE", Whole(n))));
        }

        advice.Add(Advice(AdviceLevel.Info, AdviceKinds.Reconnect, "close_old_connections()",
            "Outside the request cycle (management commands, Celery tasks, threads) Django neither applies CONN_MAX_AGE nor runs health checks: a long-running worker keeps its connection until the server drops it.",
            "Call django.db.close_old_connections() before each unit of work in such code."));
        advice.AddRange(IdleInTransaction(server, "Keep transaction.atomic() blocks short; never wait on other services inside one."));
        return advice;
    }
}
