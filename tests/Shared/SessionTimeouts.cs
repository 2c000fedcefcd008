using System.Data.Common;
using System.Globalization;

namespace TestDbKit.Tests.Common;

/// <summary>The timeout a session got from the server (the proof a timeout fault is, or is no longer, in effect):
/// the one copy of the per-engine query, by the tool's fault name.</summary>
public static class SessionTimeouts
{
    /// <summary>The <paramref name="kind"/> timeout (<c>idle</c>, <c>idle-in-transaction</c>, <c>statement-timeout</c>)
    /// that the open <paramref name="session"/> has.</summary>
    public static async Task<TimeSpan> OfAsync(DbConnection session, DbEngine engine, string kind)
    {
        var sql = (engine, kind) switch
        {
            (DbEngine.PostgreSql, "idle") => "SELECT setting::float8 / 1000 FROM pg_settings WHERE name = 'idle_session_timeout'",
            (DbEngine.PostgreSql, "idle-in-transaction") => "SELECT setting::float8 / 1000 FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout'",
            (DbEngine.PostgreSql, _) => "SELECT setting::float8 / 1000 FROM pg_settings WHERE name = 'statement_timeout'",
            (_, "idle") => "SELECT @@SESSION.wait_timeout",
            (_, "idle-in-transaction") => "SELECT @@SESSION.idle_transaction_timeout",
            _ => "SELECT @@SESSION.max_statement_time",
        };
        return TimeSpan.FromSeconds(Convert.ToDouble(await session.ScalarAsync(sql), CultureInfo.InvariantCulture));
    }
}
