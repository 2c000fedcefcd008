using System.Data.Common;
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

    protected override void Validate(DbConnectionStringBuilder builder)
    {
        var b = (NpgsqlConnectionStringBuilder)builder;
        if (b.Pooling && b.ConnectionIdleLifetime < b.ConnectionPruningInterval)
        {
            throw new ClientInputException(
                $"Npgsql refuses to open with Connection Idle Lifetime={b.ConnectionIdleLifetime} below Connection Pruning Interval={b.ConnectionPruningInterval}: " +
                "lower the pruning interval too, or use Connection Lifetime instead.");
        }
    }

    protected override DriverPool PoolOf(DbConnectionStringBuilder builder)
    {
        var b = (NpgsqlConnectionStringBuilder)builder;
        return new(b.Pooling, b.KeepAlive > 0, !b.NoResetOnClose, ("No Reset On Close", "false"), "Connection Lifetime below it");
    }

    protected override ResilienceAdvice IdleAdvice(DbConnectionStringBuilder builder, ServerTimeouts server)
    {
        var b = (NpgsqlConnectionStringBuilder)builder;
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
            return Advice(AdviceLevel.Info, AdviceKinds.IdleTimeout, setting,
                $"A pooled connection older than Connection Lifetime={b.ConnectionLifetime} is closed when taken from the pool, so none is reused after idling for the server's {Seconds(server.Idle)}.",
                "Nothing to change.");
        }

        if (idleWorst < server.Idle)
        {
            return Advice(AdviceLevel.Info, AdviceKinds.IdleTimeout, setting,
                $"Idle pooled connections are pruned within {Seconds(idleWorst)} (Connection Idle Lifetime={b.ConnectionIdleLifetime}, Connection Pruning Interval={b.ConnectionPruningInterval}), before the server's {Seconds(server.Idle)}.",
                "Nothing to change.");
        }

        var finding = $"A pooled connection may sit idle for up to {Seconds(idleWorst)} (Connection Idle Lifetime={b.ConnectionIdleLifetime} is enforced by sampling every Connection Pruning Interval={b.ConnectionPruningInterval} s" +
            (lifetime > TimeSpan.Zero ? $"; Connection Lifetime={b.ConnectionLifetime} is not below the timeout" : "; Connection Lifetime is off") +
            $"), but the server closes sessions idle for {Seconds(server.Idle)}: the next use of such a connection fails with {server.LostError}.";
        return WholeSecondsBelow(server.Idle) is { } n
            ? Advice(AdviceLevel.Problem, AdviceKinds.IdleTimeout, setting, finding,
                $"Set Connection Lifetime={Whole(n)} (strictly below the server's {Seconds(server.Idle)}: Npgsql closes an older connection when it is taken from the pool), and retry on DbErrors.IsTransient.",
                ("Connection Lifetime", Whole(n)))
            : Advice(AdviceLevel.Problem, AdviceKinds.IdleTimeout, setting,
                finding + $" At {Seconds(server.Idle)} no pool setting can help: Npgsql's lifetimes are whole seconds (1 s at least), and it has no validate-on-borrow.",
                $"Set Pooling=false for this server (every open is a new session), or give the server a longer {server.IdleSetting}; and retry on DbErrors.IsTransient.",
                ("Pooling", "false"));
    }
}
