using Npgsql;

namespace TestDbKit.Engines;

/// <summary>
/// Npgsql's pool against PostgreSQL's <c>idle_session_timeout</c>. How Npgsql keeps idle connections (10.x):
/// when a connection is taken from the pool, one opened longer ago than <c>Connection Lifetime</c> is closed and
/// another used, so a lifetime below the server's timeout guarantees no reused connection idled that long (its
/// age is at least its idle time). <c>Connection Idle Lifetime</c> is weaker: every <c>Connection Pruning
/// Interval</c> the pool counts its idle connections, and after <c>ceil(idle lifetime / interval)</c> samples it
/// closes as many as the median count, so a connection can sit idle for up to <c>(2 * samples - 1) * interval</c>;
/// and Npgsql refuses an idle lifetime below the pruning interval (10 s by default). Npgsql has no
/// validate-on-borrow: below 2 s only turning pooling off (or a longer server timeout) helps.
/// </summary>
internal sealed class NpgsqlAdvisor : DriverAdvisor
{
    public static NpgsqlAdvisor Instance { get; } = new();

    public override string Key => "npgsql";

    public override string Name => "Npgsql";

    public override DbEngine Engine => DbEngine.PostgreSql;

    protected override void Validate(System.Data.Common.DbConnectionStringBuilder builder)
    {
        var b = (NpgsqlConnectionStringBuilder)builder;
        if (b.Pooling && b.ConnectionIdleLifetime < b.ConnectionPruningInterval)
        {
            throw new ClientInputException(
                $"Npgsql refuses to open with Connection Idle Lifetime={b.ConnectionIdleLifetime} below Connection Pruning Interval={b.ConnectionPruningInterval}: " +
                "lower the pruning interval too, or use Connection Lifetime instead.");
        }
    }

    public override IReadOnlyList<ResilienceAdvice> Advise(DbEngine engine, ClientSettings settings, ServerTimeouts server)
    {
        var b = Builder<NpgsqlConnectionStringBuilder>(settings);
        var advice = new List<ResilienceAdvice>();
        if (!b.Pooling)
        {
            advice.Add(new(AdviceLevel.Info, "Pooling=false",
                "Every open makes a new connection: no pooled connection can go stale, but each open pays for a handshake.",
                "Keep pooling on where the server's idle timeout allows, with Connection Lifetime below it.")
            {
                Kind = AdviceKinds.Pooling,
            });
        }
        else
        {
            advice.Add(IdleAdvice(b, server));
        }

        advice.AddRange(IdleInTransaction(server, "Keep transactions short; never wait on user input or other services inside one."));
        if (b.Pooling && b.KeepAlive <= 0)
        {
            advice.Add(new(AdviceLevel.Warning, "Keepalive",
                "No keepalive: a firewall or NAT that forgets idle flows leaves pooled connections dead without either side knowing, until the next use fails.",
                "Set Keepalive=30 (seconds between keepalive queries on idle connections), or keep Connection Lifetime shorter than such devices' idle limit.")
            {
                Kind = AdviceKinds.Keepalive,
                Apply = new Dictionary<string, string> { ["Keepalive"] = "30" },
            });
        }

        if (b.Pooling && b.NoResetOnClose)
        {
            advice.Add(new(AdviceLevel.Warning, "No Reset On Close",
                "Pooled sessions are handed out without being reset: session variables, temporary tables and prepared state of one use leak into the next.",
                "Set No Reset On Close=false.")
            {
                Kind = AdviceKinds.SessionReset,
                Apply = new Dictionary<string, string> { ["No Reset On Close"] = "false" },
            });
        }

        return advice;
    }

    private static ResilienceAdvice IdleAdvice(NpgsqlConnectionStringBuilder b, ServerTimeouts server)
    {
        var setting = $"Connection Lifetime vs server {server.IdleSetting}";
        if (server.Idle <= TimeSpan.Zero)
        {
            return NoServerTimeout(setting, server);
        }

        var lifetime = TimeSpan.FromSeconds(b.ConnectionLifetime);
        var pruning = Math.Max(1, b.ConnectionPruningInterval);
        var samples = 1 + ((Math.Max(1, b.ConnectionIdleLifetime) - 1) / pruning);
        var idleWorst = TimeSpan.FromSeconds(((2 * samples) - 1) * pruning);
        if (lifetime > TimeSpan.Zero && lifetime < server.Idle)
        {
            return new(AdviceLevel.Info, setting,
                $"A pooled connection older than Connection Lifetime={b.ConnectionLifetime} is closed when taken from the pool, so none is reused after idling for the server's {Seconds(server.Idle)}.",
                "Nothing to change.") { Kind = AdviceKinds.IdleTimeout };
        }

        if (idleWorst < server.Idle)
        {
            return new(AdviceLevel.Info, setting,
                $"Idle pooled connections are pruned within {Seconds(idleWorst)} (Connection Idle Lifetime={b.ConnectionIdleLifetime}, Connection Pruning Interval={b.ConnectionPruningInterval}), before the server's {Seconds(server.Idle)}.",
                "Nothing to change.") { Kind = AdviceKinds.IdleTimeout };
        }

        var finding = $"A pooled connection may sit idle for up to {Seconds(idleWorst)} (Connection Idle Lifetime={b.ConnectionIdleLifetime} is enforced by sampling every Connection Pruning Interval={b.ConnectionPruningInterval} s" +
            (lifetime > TimeSpan.Zero ? $"; Connection Lifetime={b.ConnectionLifetime} is not below the timeout" : "; Connection Lifetime is off") +
            $"), but the server closes sessions idle for {Seconds(server.Idle)}: the next use of such a connection fails with {server.LostError}.";
        if (WholeSecondsBelow(server.Idle) is { } n)
        {
            return new(AdviceLevel.Problem, setting, finding,
                $"Set Connection Lifetime={Whole(n)} (strictly below the server's {Seconds(server.Idle)}: Npgsql closes an older connection when it is taken from the pool), and retry on DbErrors.IsTransient.")
            {
                Kind = AdviceKinds.IdleTimeout,
                Apply = new Dictionary<string, string> { ["Connection Lifetime"] = Whole(n) },
            };
        }

        return new(AdviceLevel.Problem, setting, finding + $" At {Seconds(server.Idle)} no pool setting can help: Npgsql's lifetimes are whole seconds (1 s at least), and it has no validate-on-borrow.",
            $"Set Pooling=false for this server (every open is a new session), or give the server a longer {server.IdleSetting}; and retry on DbErrors.IsTransient.")
        {
            Kind = AdviceKinds.IdleTimeout,
            Apply = new Dictionary<string, string> { ["Pooling"] = "false" },
        };
    }
}
