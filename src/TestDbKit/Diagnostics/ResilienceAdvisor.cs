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
    /// <summary>What the finding is about, as a stable lower-case name a pipeline can match on: <c>idle-timeout</c>
    /// (the pool against the server's idle timeout), <c>keepalive</c>, <c>session-reset</c>, <c>pooling</c>,
    /// <c>retry</c>, <c>reconnect</c>, <c>transaction-recovery</c>, <c>idle-in-transaction</c>.</summary>
    public string Kind { get; init; } = "";

    /// <summary>The client settings that clear this finding, in the client's own names (for a .NET driver, its
    /// connection-string keywords): with them applied, asking again gives no finding of this kind above
    /// <see cref="AdviceLevel.Info"/>. Empty for information, and for advice about code rather than settings.</summary>
    public IReadOnlyDictionary<string, string> Apply { get; init; } = new Dictionary<string, string>();

    /// <inheritdoc />
    public override string ToString() => $"{Level}: {Setting}: {Finding} Fix: {Fix}";
}

/// <summary>
/// Compares a client's pool settings with the server's idle timeouts and says what will break and what to
/// change: what Django's CONN_MAX_AGE and SQLAlchemy's pool_recycle / pool_pre_ping teach, made automatic. The fix
/// of every finding clears it: a value is whole seconds strictly below the server's timeout, allowing for how the
/// driver enforces it, and where no pool setting can be below it the advice says so and names what helps.
/// </summary>
public static class ResilienceAdvisor
{
    /// <summary>Reads the server's timeouts over <paramref name="connectionString"/> and advises on the .NET
    /// driver's pool settings in it (Npgsql, MySqlConnector). The password is never part of the advice.</summary>
    /// <param name="engine">The engine the connection string is for.</param>
    /// <param name="connectionString">The application's connection string, pool settings included.</param>
    /// <param name="ct">Cancels the server round trip.</param>
    /// <exception cref="ArgumentException">The connection string is malformed, or holds settings the driver refuses.</exception>
    public static async Task<IReadOnlyList<ResilienceAdvice>> AdviseAsync(DbEngine engine, string connectionString, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var client = Diagnostics.ClientAdvisors.Default(engine);
        ClientSettings settings;
        try
        {
            settings = client.Prepare(engine, connectionString, []);
        }
        catch (ClientInputException e)
        {
            throw new ArgumentException(e.Message, nameof(connectionString), e);
        }

        return await AdviseAsync(engine, client, settings, ct).ConfigureAwait(false);
    }

    /// <summary>Reads the server's timeouts over <paramref name="settings"/>' connection string and advises
    /// <paramref name="client"/> in its own settings.</summary>
    internal static async Task<IReadOnlyList<ResilienceAdvice>> AdviseAsync(DbEngine engine, ClientAdvisor client, ClientSettings settings, CancellationToken ct)
    {
        var server = await ServerTimeoutsAsync(engine, settings.ConnectionString, ct).ConfigureAwait(false);
        return client.Advise(engine, settings, server);
    }

    /// <summary>The server's idle timeouts as a session of <paramref name="connectionString"/> sees them.</summary>
    internal static async Task<ServerTimeouts> ServerTimeoutsAsync(DbEngine engine, string connectionString, CancellationToken ct)
    {
        var dialect = EngineDialect.For(engine);
        await using var connection = await dialect.OpenAsync(dialect.ForProbe(connectionString, TimeSpan.FromSeconds(15)), ct).ConfigureAwait(false);
        var (idle, idleInTransaction) = await dialect.ServerTimeoutsAsync(connection, ct).ConfigureAwait(false);
        var (setting, lostError) = EngineRegistry.Module(engine).IdleTimeoutAdvice;
        return new ServerTimeouts(idle, idleInTransaction, setting, lostError);
    }
}
