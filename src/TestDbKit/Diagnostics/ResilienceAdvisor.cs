using System.Globalization;
using TestDbKit.Engines;

namespace TestDbKit;

/// <summary>How much a finding of <see cref="ResilienceAdvisor"/> matters.</summary>
public enum AdviceLevel
{
    /// <summary>Worth knowing; nothing breaks.</summary>
    Info,

    /// <summary>Breaks under conditions production has (a NAT dropping idle flows, state left in a session).</summary>
    Warning,

    /// <summary>Will break: for example pooled connections outliving the server's idle timeout.</summary>
    Problem,
}

/// <summary>One finding: which setting, what happens, what to change.</summary>
/// <param name="Level">How much it matters.</param>
/// <param name="Setting">The client or server setting concerned.</param>
/// <param name="Finding">What will happen, and why.</param>
/// <param name="Fix">What to change.</param>
public sealed record ResilienceAdvice(AdviceLevel Level, string Setting, string Finding, string Fix)
{
    /// <inheritdoc />
    public override string ToString() => $"{Level}: {Setting}: {Finding} Fix: {Fix}";
}

/// <summary>
/// Compares a client's pool settings with the server's idle timeouts and says what will break and what to
/// change: what Django's CONN_MAX_AGE and SQLAlchemy's pool_recycle / pool_pre_ping teach, made automatic.
/// </summary>
public static class ResilienceAdvisor
{
    /// <summary>Reads the server's timeouts over <paramref name="connectionString"/> and advises on the pool
    /// settings in it. The password is never part of the advice.</summary>
    /// <param name="engine">The engine the connection string is for.</param>
    /// <param name="connectionString">The application's connection string, pool settings included.</param>
    /// <param name="ct">Cancels the server round trip.</param>
    public static async Task<IReadOnlyList<ResilienceAdvice>> AdviseAsync(DbEngine engine, string connectionString, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var dialect = EngineDialect.For(engine);
        var client = dialect.PoolSettingsOf(connectionString);
        await using var connection = await dialect.OpenAsync(dialect.ForProbe(connectionString, TimeSpan.FromSeconds(15)), ct).ConfigureAwait(false);
        var (idle, idleInTransaction) = await dialect.ServerTimeoutsAsync(connection, ct).ConfigureAwait(false);
        return Advise(engine, client, idle, idleInTransaction);
    }

    internal static IReadOnlyList<ResilienceAdvice> Advise(DbEngine engine, ClientPoolSettings client, TimeSpan serverIdle, TimeSpan serverIdleInTransaction)
    {
        var advice = new List<ResilienceAdvice>();
        var (timeoutName, lostError) = EngineRegistry.Module(engine).IdleTimeoutAdvice;
        if (!client.Pooling)
        {
            advice.Add(new(AdviceLevel.Info, "Pooling=false",
                "Every open makes a new connection: no pooled connection can go stale, but each open pays for a handshake.",
                "Keep pooling on, with the idle lifetime below the server's idle timeout."));
        }
        else if (serverIdle > TimeSpan.Zero && client.IdleLifetime >= serverIdle && (client.Lifetime <= TimeSpan.Zero || client.Lifetime >= serverIdle))
        {
            var target = TimeSpan.FromSeconds(Math.Max(1, Math.Floor(serverIdle.TotalSeconds * 0.8)));
            advice.Add(new(AdviceLevel.Problem, $"{client.IdleLifetimeName} vs server {timeoutName}",
                $"Pooled connections may sit idle for {Seconds(client.IdleLifetime)}, but the server closes sessions idle for {Seconds(serverIdle)}: " +
                $"the next use of such a connection fails with {lostError}.",
                $"Set {client.IdleLifetimeName}={target.TotalSeconds.ToString(CultureInfo.InvariantCulture)} (below the server's timeout), and retry on DbErrors.IsTransient."));
        }
        else if (serverIdle > TimeSpan.Zero)
        {
            advice.Add(new(AdviceLevel.Info, $"{client.IdleLifetimeName} vs server {timeoutName}",
                $"Pooled connections are closed after {Seconds(client.IdleLifetime)} idle, before the server's {Seconds(serverIdle)}.",
                "Nothing to change."));
        }

        if (serverIdleInTransaction > TimeSpan.Zero)
        {
            advice.Add(new(AdviceLevel.Info, "idle_in_transaction_session_timeout",
                $"A session that keeps a transaction open and idle for {Seconds(serverIdleInTransaction)} is ended by the server (25P03).",
                "Keep transactions short; never wait on user input or other services inside one."));
        }

        if (client.Pooling && client.Keepalive <= TimeSpan.Zero)
        {
            advice.Add(new(AdviceLevel.Warning, client.KeepaliveName,
                "No TCP keepalive: a firewall or NAT that forgets idle flows leaves pooled connections dead without either side knowing, until the next use fails.",
                $"Set {client.KeepaliveName}=30, or keep the idle lifetime shorter than such devices' idle limit."));
        }

        if (client.Pooling && !client.ResetsSessions)
        {
            advice.Add(new(AdviceLevel.Warning, client.ResetName,
                "Pooled sessions are handed out without being reset: session variables, temporary tables and an open transaction of one use leak into the next.",
                $"Use {client.ResetName}."));
        }

        return advice;
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture) + " s";
}
