using TestDbKit.Engines;

namespace TestDbKit.Diagnostics;

/// <summary>
/// SQLAlchemy's pool (QueuePool) on either engine. At checkout it replaces a connection older than
/// <c>pool_recycle</c> seconds (age, so a recycle below the server's timeout means no reused connection idled
/// that long), and with <c>pool_pre_ping=True</c> it tests each connection first and replaces a dead one.
/// Settings: <c>pool_recycle</c> (seconds, -1: never, the default), <c>pool_pre_ping</c>, <c>poolclass</c>
/// (NullPool: no pool).
/// </summary>
internal sealed class SqlAlchemyAdvisor : ClientAdvisor
{
    public static SqlAlchemyAdvisor Instance { get; } = new();

    public override string Key => "sqlalchemy";

    public override string Name => "SQLAlchemy";

    public override bool Supports(DbEngine engine) => true;

    public override IReadOnlyList<ResilienceAdvice> Advise(DbEngine engine, ClientSettings settings, ServerTimeouts server)
    {
        var advice = new List<ResilienceAdvice>();
        var (_, recycle) = settings.Seconds("pool_recycle");
        var prePing = settings.Flag("pool_pre_ping") ?? false;
        var setting = $"pool_recycle vs server {server.IdleSetting}";
        if (settings.Text("poolclass") is { } pool && pool.EndsWith("NullPool", StringComparison.Ordinal))
        {
            advice.Add(Advice(AdviceLevel.Info, AdviceKinds.Pooling, "poolclass=NullPool",
                "Every checkout makes a new connection: none can go stale, but each pays for a handshake.",
                "Nothing to change."));
        }
        else if (server.Idle <= TimeSpan.Zero)
        {
            advice.Add(NoServerTimeout(setting, server));
        }
        else if (prePing)
        {
            advice.Add(Advice(AdviceLevel.Info, AdviceKinds.IdleTimeout, setting,
                $"pool_pre_ping=True tests each connection at checkout and replaces one the server closed after {Seconds(server.Idle)}, at one round trip per checkout.",
                "Nothing to change."));
        }
        else if (recycle is > 0 && recycle.Value < server.Idle.TotalSeconds)
        {
            advice.Add(Advice(AdviceLevel.Info, AdviceKinds.IdleTimeout, setting,
                $"pool_recycle={recycle} replaces a connection older than that at checkout, before the server's {Seconds(server.Idle)}.",
                "Nothing to change."));
        }
        else
        {
            var finding = (recycle is > 0 ? $"pool_recycle={recycle} is not below the server's timeout" : "pool_recycle is off (-1, the default)") +
                $" and pool_pre_ping is off: a pooled connection can idle longer than the server's {Seconds(server.Idle)}, and its next use raises sqlalchemy.exc.OperationalError ({server.LostError}).";
            advice.Add(WholeSecondsBelow(server.Idle) is { } n
                ? Advice(AdviceLevel.Problem, AdviceKinds.IdleTimeout, setting, finding,
                    $"create_engine(..., pool_recycle={Whole(n)}) (strictly below the server's {Seconds(server.Idle)}), or pool_pre_ping=True; and retry the unit of work on OperationalError.", ("pool_recycle", Whole(n)))
                : Advice(AdviceLevel.Problem, AdviceKinds.IdleTimeout, setting, finding + $" At {Seconds(server.Idle)} no pool_recycle can help: a connection may be reused after idling less than a second.",
                    $"create_engine(..., pool_pre_ping=True) (each checkout is tested and a dead connection replaced), or give the server a longer {server.IdleSetting}; and retry the unit of work on OperationalError.", ("pool_pre_ping", "true")));
        }

        advice.Add(Advice(AdviceLevel.Info, AdviceKinds.TransactionRecovery, "rollback after a lost connection",
            "A connection lost inside a transaction leaves the Session (or Connection) invalid: every statement raises \"Can't reconnect until invalid transaction is rolled back\" until it is rolled back.",
            "On OperationalError call session.rollback() (or connection.rollback()) before anything else; then retry the unit of work."));
        advice.AddRange(IdleInTransaction(server, "Keep transactions short: commit or roll back before waiting on anything."));
        return advice;
    }
}
