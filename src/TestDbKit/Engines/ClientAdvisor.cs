using System.Data.Common;
using System.Globalization;

namespace TestDbKit.Engines;

/// <summary>The server's side that a client's settings are measured against, read from a real session.</summary>
/// <param name="Idle">The server's idle-session timeout as the client's sessions see it (zero: none).</param>
/// <param name="IdleInTransaction">The idle-in-transaction timeout (zero: none, or the engine has none).</param>
/// <param name="IdleSetting">The server setting's name (<c>idle_session_timeout</c>, <c>wait_timeout</c>).</param>
/// <param name="LostError">What a client meets when it uses a session the server ended.</param>
internal sealed record ServerTimeouts(TimeSpan Idle, TimeSpan IdleInTransaction, string IdleSetting, string LostError);

/// <summary>A client's setting that cannot be read: a value of the wrong shape, or a keyword the client does not
/// have. The message names the setting and what it takes, never a password.</summary>
internal sealed class ClientInputException(string message) : Exception(message);

/// <summary>
/// What one client (a driver, an ORM, a framework) must set so its connections do not outlive the server's idle
/// timeout, in that client's own settings. One subclass per client family; <c>ClientAdvisors</c> lists them.
/// Every finding above <see cref="AdviceLevel.Info"/> carries in <see cref="ResilienceAdvice.Apply"/> the settings
/// that clear it: applied and asked again, it is gone (the convergence the tests prove on real servers).
/// </summary>
internal abstract class ClientAdvisor
{
    /// <summary>The <c>--client</c> value.</summary>
    public abstract string Key { get; }

    /// <summary>The client's name in messages.</summary>
    public abstract string Name { get; }

    /// <summary>Whether the client speaks to <paramref name="engine"/>'s servers.</summary>
    public abstract bool Supports(DbEngine engine);

    /// <summary>The client's settings: <paramref name="settings"/> as given (URL query parameters, then
    /// <c>--setting</c>s), with the .NET connection string that reaches the server. A driver folds its settings
    /// into the connection string instead; it throws <see cref="ClientInputException"/> for one it lacks.</summary>
    public virtual ClientSettings Prepare(DbEngine engine, string connectionString, IReadOnlyList<KeyValuePair<string, string>> settings) =>
        Checked(engine, new ClientSettings(connectionString, settings));

    /// <summary>Reads every setting <paramref name="settings"/> holds once, before any server is asked, so a
    /// malformed value is reported as malformed input even when the server cannot be reached.</summary>
    protected ClientSettings Checked(DbEngine engine, ClientSettings settings)
    {
        _ = Advise(engine, settings, new ServerTimeouts(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), "idle timeout", "an error"));
        return settings;
    }

    /// <summary>What will break with <paramref name="settings"/> against <paramref name="server"/>, and the fix.</summary>
    public abstract IReadOnlyList<ResilienceAdvice> Advise(DbEngine engine, ClientSettings settings, ServerTimeouts server);

    public override string ToString() => Key;

    /// <summary>The largest whole number of seconds strictly below <paramref name="timeout"/>; null below 2 s,
    /// where no whole-second setting (1 s at least) is below it.</summary>
    public static int? WholeSecondsBelow(TimeSpan timeout)
    {
        var n = (int)Math.Min(int.MaxValue, Math.Ceiling(timeout.TotalSeconds)) - 1;
        return n >= 1 ? n : null;
    }

    /// <summary>Seconds for messages: "60 s", "1.5 s".</summary>
    public static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";

    /// <summary>A whole number for a setting's value.</summary>
    public static string Whole(int n) => n.ToString(CultureInfo.InvariantCulture);

    /// <summary>A finding; <paramref name="apply"/> are the settings that clear it.</summary>
    public static ResilienceAdvice Advice(AdviceLevel level, string kind, string setting, string finding, string fix, params (string Key, string Value)[] apply) =>
        new(level, setting, finding, fix) { Kind = kind, Apply = apply.ToDictionary(a => a.Key, a => a.Value) };

    /// <summary>The finding when the server keeps idle sessions forever, or ends none the client could reuse.</summary>
    public static ResilienceAdvice NoServerTimeout(string setting, ServerTimeouts server) =>
        Advice(AdviceLevel.Info, AdviceKinds.IdleTimeout, setting, $"The server ends no idle sessions ({server.IdleSetting} is off).", "Nothing to change.");

    /// <summary>The idle-in-transaction note, when the server has that timeout.</summary>
    public static IEnumerable<ResilienceAdvice> IdleInTransaction(ServerTimeouts server, string whatToDo)
    {
        if (server.IdleInTransaction > TimeSpan.Zero)
        {
            yield return Advice(AdviceLevel.Info, AdviceKinds.IdleInTransaction, "idle_in_transaction_session_timeout",
                $"A session that keeps a transaction open and idle for {Seconds(server.IdleInTransaction)} is ended by the server (25P03).",
                whatToDo);
        }
    }
}

/// <summary>The stable <see cref="ResilienceAdvice.Kind"/> values.</summary>
internal static class AdviceKinds
{
    public const string IdleTimeout = "idle-timeout";
    public const string IdleInTransaction = "idle-in-transaction";
    public const string Pooling = "pooling";
    public const string Keepalive = "keepalive";
    public const string SessionReset = "session-reset";
    public const string Retry = "retry";
    public const string Reconnect = "reconnect";
    public const string TransactionRecovery = "transaction-recovery";
}

/// <summary>A client's settings as doctor read them: the connection string that reaches the server and the named
/// values (case-insensitive; a later value wins), with typed readers that say what a malformed value should be.</summary>
internal sealed class ClientSettings
{
    private readonly Dictionary<string, string> _values = new(StringComparer.OrdinalIgnoreCase);

    public ClientSettings(string connectionString, IEnumerable<KeyValuePair<string, string>> values)
    {
        ConnectionString = connectionString;
        foreach (var (key, value) in values)
        {
            _values[key] = value;
        }
    }

    /// <summary>The .NET driver's connection string for the server (a driver's own settings folded in).</summary>
    public string ConnectionString { get; }

    public IReadOnlyDictionary<string, string> Values => _values;

    public string? Text(string name) => _values.TryGetValue(name, out var v) ? v.Trim() : null;

    /// <summary>Whole seconds; <paramref name="none"/> names values meaning "no limit" (null is returned for them).</summary>
    public (bool Set, int? Value) Seconds(string name, params string[] none)
    {
        if (Text(name) is not { } text)
        {
            return (false, null);
        }

        if (none.Contains(text, StringComparer.OrdinalIgnoreCase))
        {
            return (true, null);
        }

        return int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
            ? (true, n)
            : throw new ClientInputException($"The setting {name}={text} is not a whole number of seconds" +
                (none.Length > 0 ? $" (or {string.Join(" / ", none)})." : "."));
    }

    public bool? Flag(string name)
    {
        return Text(name) switch
        {
            null => null,
            var t when t.Equals("true", StringComparison.OrdinalIgnoreCase) || t == "1" || t.Equals("yes", StringComparison.OrdinalIgnoreCase) || t.Equals("on", StringComparison.OrdinalIgnoreCase) => true,
            var t when t.Equals("false", StringComparison.OrdinalIgnoreCase) || t == "0" || t.Equals("no", StringComparison.OrdinalIgnoreCase) || t.Equals("off", StringComparison.OrdinalIgnoreCase) => false,
            var t => throw new ClientInputException($"The setting {name}={t} is not true or false (True/False, 1/0, yes/no, on/off)."),
        };
    }
}

/// <summary>
/// A .NET driver as a client: its settings are its connection string's keywords, so a <c>--setting</c> goes into
/// the connection string through the driver's own builder, which refuses a keyword it does not have. The
/// findings every driver shares (pooling off, keepalive, session reset, idle in transaction) are made here; a
/// driver supplies how it reads its pool and how it retires idle connections.
/// </summary>
internal abstract class DriverAdvisor : ClientAdvisor
{
    public abstract DbEngine Engine { get; }

    public override bool Supports(DbEngine engine) => engine == Engine;

    public override ClientSettings Prepare(DbEngine engine, string connectionString, IReadOnlyList<KeyValuePair<string, string>> settings)
    {
        var builder = EngineRegistry.For(Engine).CreateBuilder(connectionString);
        foreach (var (key, value) in settings)
        {
            try
            {
                builder[key] = value;
            }
            catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException)
            {
                var shown = key.Contains("pass", StringComparison.OrdinalIgnoreCase) || key.Contains("pwd", StringComparison.OrdinalIgnoreCase) ? "***" : value;
                throw new ClientInputException($"{Name} has no connection-string setting {key} taking '{shown}' ({e.Message.Split('\n')[0].TrimEnd()}).");
            }
        }

        Validate(builder);
        return new ClientSettings(builder.ConnectionString, []);
    }

    public sealed override IReadOnlyList<ResilienceAdvice> Advise(DbEngine engine, ClientSettings settings, ServerTimeouts server)
    {
        var builder = EngineRegistry.For(Engine).CreateBuilder(settings.ConnectionString);
        var pool = PoolOf(builder);
        var advice = new List<ResilienceAdvice>
        {
            pool.Pooling
                ? IdleAdvice(builder, server)
                : Advice(AdviceLevel.Info, AdviceKinds.Pooling, "Pooling=false",
                    "Every open makes a new connection: no pooled connection can go stale, but each open pays for a handshake.",
                    $"Keep pooling on where the server's idle timeout allows, with {pool.SafeSetting}."),
        };
        advice.AddRange(IdleInTransaction(server, "Keep transactions short; never wait on user input or other services inside one."));
        if (pool.Pooling && !pool.Keepalive)
        {
            advice.Add(Advice(AdviceLevel.Warning, AdviceKinds.Keepalive, "Keepalive",
                "No keepalive of the driver's own (the OS default waits two hours): a firewall or NAT that forgets idle flows leaves pooled connections dead without either side knowing, until the next use fails.",
                "Set Keepalive=30.", ("Keepalive", "30")));
        }

        if (pool.Pooling && !pool.Resets)
        {
            advice.Add(Advice(AdviceLevel.Warning, AdviceKinds.SessionReset, pool.Reset.Key,
                "Pooled sessions are handed out without being reset: session variables, temporary tables and an open transaction of one use leak into the next.",
                $"Set {pool.Reset.Key}={pool.Reset.Value}.", pool.Reset));
        }

        return advice;
    }

    /// <summary>What the driver's pool is set to: <paramref name="Reset"/> is the setting and value that reset
    /// sessions; <paramref name="SafeSetting"/> names what keeps pooled connections below a server timeout.</summary>
    protected sealed record DriverPool(bool Pooling, bool Keepalive, bool Resets, (string Key, string Value) Reset, string SafeSetting);

    protected abstract DriverPool PoolOf(DbConnectionStringBuilder builder);

    /// <summary>The idle-timeout finding for a pooling connection string.</summary>
    protected abstract ResilienceAdvice IdleAdvice(DbConnectionStringBuilder builder, ServerTimeouts server);

    /// <summary>Throws <see cref="ClientInputException"/> for settings the driver itself would refuse on open.</summary>
    protected virtual void Validate(DbConnectionStringBuilder builder)
    {
    }
}
