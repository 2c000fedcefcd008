namespace TestDbKit.Engines;

/// <summary>
/// PyMySQL: no pool and no reconnect of its own; a connection the server dropped after <c>wait_timeout</c> fails
/// its next query ("MySQL server has gone away", 2006) unless the code pings with <c>reconnect=True</c> first.
/// PyMySQL has no setting that changes this: the advice is about the code that holds the connection.
/// </summary>
internal sealed class PyMySqlAdvisor : ClientAdvisor
{
    public static PyMySqlAdvisor Instance { get; } = new();

    public override string Key => "pymysql";

    public override string Name => "PyMySQL";

    public override bool Supports(DbEngine engine) => engine == DbEngine.MySql;

    public override IReadOnlyList<ResilienceAdvice> Advise(DbEngine engine, ClientSettings settings, ServerTimeouts server) =>
    [
        server.Idle > TimeSpan.Zero
            ? Advice(AdviceLevel.Info, AdviceKinds.Reconnect, $"ping vs server {server.IdleSetting}",
                $"PyMySQL keeps no pool: a connection your code keeps open and idle for {Seconds(server.Idle)} is closed by the server, and its next query raises pymysql.err.OperationalError ({server.LostError}).",
                "Call connection.ping(reconnect=True) before using a connection that may have idled that long (it reconnects a dropped one); or catch OperationalError 2006/2013, reconnect and retry the unit of work; or take connections from a pool that pings (SQLAlchemy pool_pre_ping=True).")
            : NoServerTimeout($"ping vs server {server.IdleSetting}", server),
    ];
}
