using System.Data.Common;
using MySqlConnector;

namespace TestDbKit.Engines;

/// <summary>
/// MySqlConnector's pool against the server's <c>wait_timeout</c>. How MySqlConnector keeps idle sessions (2.x):
/// with <c>ConnectionReset=true</c> (its default) a session taken from the pool is reset first, and one the
/// server has dropped fails the reset and is replaced by a new one: pooled sessions cannot go stale. Without it,
/// only the reaper closes idle sessions: every <c>max(1, min(60, ConnectionIdleTimeout / 2))</c> seconds it closes
/// those idle for <c>ConnectionIdleTimeout</c> seconds or more, so a session can sit idle for up to the timeout
/// plus one reaper interval. <c>ConnectionLifeTime</c> is checked only when a session goes back to the pool, so it
/// does not help an idle one.
/// </summary>
internal sealed class MySqlConnectorAdvisor : DriverAdvisor
{
    public static MySqlConnectorAdvisor Instance { get; } = new();

    public override string Key => "mysqlconnector";

    public override string Name => "MySqlConnector";

    public override DbEngine Engine => DbEngine.MySql;

    protected override DriverPool PoolOf(DbConnectionStringBuilder builder)
    {
        var b = (MySqlConnectionStringBuilder)builder;
        return new(b.Pooling, b.Keepalive > 0, b.ConnectionReset, ("ConnectionReset", "true"), "ConnectionReset=true");
    }

    /// <summary>The longest a session can sit idle in the pool before the reaper closes it.</summary>
    private static int IdleWorst(int idleTimeout) => idleTimeout + Math.Max(1, Math.Min(60, idleTimeout / 2));

    protected override ResilienceAdvice IdleAdvice(DbConnectionStringBuilder builder, ServerTimeouts server)
    {
        var b = (MySqlConnectionStringBuilder)builder;
        var setting = $"ConnectionIdleTimeout vs server {server.IdleSetting}";
        if (server.Idle <= TimeSpan.Zero)
        {
            return NoServerTimeout(setting, server);
        }

        if (b.ConnectionReset)
        {
            return Advice(AdviceLevel.Info, AdviceKinds.IdleTimeout, setting,
                $"ConnectionReset=true resets each pooled session as it is taken from the pool; one the server dropped after {Seconds(server.Idle)} fails the reset and is replaced, at one round trip per open.",
                "Nothing to change.");
        }

        var idle = (int)b.ConnectionIdleTimeout;
        if (idle > 0 && IdleWorst(idle) < server.Idle.TotalSeconds)
        {
            return Advice(AdviceLevel.Info, AdviceKinds.IdleTimeout, setting,
                $"Idle pooled sessions are closed within {IdleWorst(idle)} s (ConnectionIdleTimeout={idle} plus the reaper's interval), before the server's {Seconds(server.Idle)}.",
                "Nothing to change.");
        }

        var finding = (idle > 0 ? $"With ConnectionReset=false a pooled session may sit idle for up to {IdleWorst(idle)} s (ConnectionIdleTimeout={idle} plus the reaper's interval of max(1, min(60, {idle}/2)) s)"
                : "With ConnectionReset=false and ConnectionIdleTimeout=0 a pooled session may sit idle for ever") +
            $", but the server closes sessions idle for {Seconds(server.Idle)}: the next use of such a session fails with {server.LostError}.";
        var fit = WholeSecondsBelow(server.Idle) is { } below
            ? Enumerable.Range(1, below).Reverse().FirstOrDefault(n => IdleWorst(n) < server.Idle.TotalSeconds)
            : 0;
        return fit > 0
            ? Advice(AdviceLevel.Problem, AdviceKinds.IdleTimeout, setting, finding,
                $"Set ConnectionIdleTimeout={Whole(fit)} (it and the reaper's interval, {Whole(IdleWorst(fit) - fit)} s, stay strictly below the server's {Seconds(server.Idle)}), or ConnectionReset=true; and retry on DbErrors.IsTransient.",
                ("ConnectionIdleTimeout", Whole(fit)))
            : Advice(AdviceLevel.Problem, AdviceKinds.IdleTimeout, setting,
                finding + $" At {Seconds(server.Idle)} no idle timeout can help: the reaper runs at most once a second and ConnectionIdleTimeout is whole seconds.",
                $"Set ConnectionReset=true (each pooled session is checked as it is opened, and replaced if the server dropped it), or give the server a longer {server.IdleSetting}; and retry on DbErrors.IsTransient.",
                ("ConnectionReset", "true"));
    }
}
