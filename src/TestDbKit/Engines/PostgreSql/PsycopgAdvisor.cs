namespace TestDbKit.Engines;

/// <summary>
/// psycopg (2 and 3) on libpq: no pool of its own, so nothing closes a connection before the server does; the code
/// that holds it must notice (<c>connection.closed</c> is non-zero once libpq saw it end) and reconnect. Its
/// settings are libpq's connection parameters (URL query or <c>--setting</c>): keepalives are on by default but
/// wait the OS's idle time (two hours on Linux) unless <c>keepalives_idle</c> says otherwise.
/// </summary>
internal sealed class PsycopgAdvisor : ClientAdvisor
{
    public static PsycopgAdvisor Instance { get; } = new();

    public override string Key => "psycopg";

    public override string Name => "psycopg";

    public override bool Supports(DbEngine engine) => engine == DbEngine.PostgreSql;

    public override IReadOnlyList<ResilienceAdvice> Advise(DbEngine engine, ClientSettings settings, ServerTimeouts server)
    {
        var advice = new List<ResilienceAdvice>
        {
            server.Idle > TimeSpan.Zero
                ? Advice(AdviceLevel.Info, AdviceKinds.Reconnect, $"reconnect vs server {server.IdleSetting}",
                    $"psycopg keeps no pool: a connection your code keeps open and idle for {Seconds(server.Idle)} is closed by the server, and its next use raises psycopg2.OperationalError ({server.LostError}).",
                    "Before reusing a long-held connection, check connection.closed and reconnect when it is non-zero; or catch OperationalError, reconnect and retry the unit of work; or take connections from a pool that pings (SQLAlchemy pool_pre_ping=True).")
                : NoServerTimeout($"reconnect vs server {server.IdleSetting}", server),
        };
        advice.AddRange(IdleInTransaction(server,
            "Keep transactions short; after an OperationalError inside one, the connection is unusable: close it and reconnect."));

        var keepalives = settings.Flag("keepalives");
        var (idleSet, idle) = settings.Seconds("keepalives_idle");
        if (keepalives == false)
        {
            advice.Add(Advice(AdviceLevel.Warning, AdviceKinds.Keepalive, "keepalives",
                "TCP keepalives are off: a firewall or NAT that forgets idle flows leaves the connection dead without either side knowing, until the next use fails (or hangs).",
                "Set keepalives=1 and keepalives_idle=30 (libpq parameters: in the URL query or connect()'s arguments).", ("keepalives", "1"), ("keepalives_idle", "30")));
        }
        else if (!idleSet || idle is null or <= 0)
        {
            advice.Add(Advice(AdviceLevel.Warning, AdviceKinds.Keepalive, "keepalives_idle",
                "libpq's keepalives wait the OS default before the first probe (two hours on Linux): a NAT or firewall that forgets idle flows sooner leaves the connection dead until the next use fails.",
                "Set keepalives_idle=30 (a libpq parameter: in the URL query or connect()'s arguments).", ("keepalives_idle", "30")));
        }

        return advice;
    }
}
