using System.Data.Common;
using System.Globalization;
using Microsoft.Extensions.Logging;
using TestDbKit.Engines;

namespace TestDbKit;

// DatabasePool, part: running the schema hook (CreateSchema on an open connection, or BuildSchema on a SchemaTarget),
// and emptying the template of the sessions a hook left behind, so PostgreSQL can copy it.
public sealed partial class DatabasePool
{
    /// <summary>The string the schema is built with: the kit's own (faults that end sessions spare it), unpooled (a
    /// hook's connections close for real when disposed), a 15 s connect timeout.</summary>
    private string SchemaConnectionString(string name) =>
        Dialect.ForProbe(Dialect.WithApplicationName(_server.ConnectionStringFor(name), EngineDialect.ControlApplicationName), TimeSpan.FromSeconds(15));

    /// <summary>Runs the pool's schema hook on the new, empty database <paramref name="name"/>: CreateSchema on
    /// <paramref name="connection"/>, or BuildSchema on a <see cref="SchemaTarget"/> for <paramref name="connectionString"/>.</summary>
    /// <exception cref="InvalidOperationException">The hook failed; the message names the database, engine and provider.</exception>
    private async Task RunSchemaHookAsync(string name, string connectionString, DbConnection connection, CancellationToken ct)
    {
        string hook;
        Func<Task> run;
        if (_options.CreateSchema is { } createSchema)
        {
            hook = "CreateSchema";
            run = () => createSchema(connection);
        }
        else if (_options.BuildSchema is { } buildSchema)
        {
            hook = "The schema hook (BuildSchema, or a test class's CreateSchemaAsync(SchemaTarget, CancellationToken))";
            var target = new SchemaTarget(name, Dialect.Engine, connectionString, OpenAsync);
            run = () => buildSchema(target, ct);
        }
        else
        {
            return;
        }

        try
        {
            await run().WaitAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidOperationException(
                $"{hook} failed on database {name} ({Dialect.Name}, {_server.Provider}): {WithoutPassword(e.Message, connectionString)}. " +
                "Fix the schema script; the database was dropped.", e);
        }
    }

    /// <summary>Ends every session still connected to <paramref name="template"/> after its schema was built (EF
    /// Core's own pools, a connection the hook did not close, the kit's control sessions) and clears the driver's
    /// pool of the schema's string: PostgreSQL copies a template only while nobody is connected to it. Never throws
    /// for a failed cleanup: the copy that follows says what holds the template.</summary>
    private async Task ReleaseTemplateAsync(string template, CancellationToken ct)
    {
        if (Dialect.EveryoneOnDatabaseSql(template) is not { } sql)
        {
            return;
        }

        Dialect.ClearPool(SchemaConnectionString(template));
        try
        {
            await using var admin = await _server.OpenAdminConnectionAsync(ct).ConfigureAwait(false);
            var ended = await EndEveryoneAsync(admin, sql, ct).ConfigureAwait(false);
            if (ended.Count > 0)
            {
                SchemaHookLog.TemplateSessionsEnded(_logger, ended.Count, template, string.Join(", ", ended));
            }
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or IOException or TimeoutException or System.Net.Sockets.SocketException)
        {
            SchemaHookLog.TemplateReleaseFailed(_logger, template, e.Message);
        }
    }

    /// <summary>Creates <paramref name="name"/> as a copy of <paramref name="template"/>; when sessions hold the
    /// template (PostgreSQL 55006), ends them and tries once more, then says clearly what holds it.</summary>
    private async Task CreateFromTemplateAsync(DbConnection admin, string name, string template, CancellationToken ct)
    {
        try
        {
            await admin.ExecuteAsync(Dialect.CreateDatabaseSql(name, template), ct).ConfigureAwait(false);
            return;
        }
        catch (DbException e) when (Dialect.IsSourceDatabaseInUse(e) && Dialect.EveryoneOnDatabaseSql(template) is not null)
        {
            var ended = await EndEveryoneAsync(admin, Dialect.EveryoneOnDatabaseSql(template)!, ct).ConfigureAwait(false);
            SchemaHookLog.TemplateSessionsEnded(_logger, ended.Count, template, string.Join(", ", ended));
        }

        try
        {
            await admin.ExecuteAsync(Dialect.CreateDatabaseSql(name, template), ct).ConfigureAwait(false);
        }
        catch (DbException e) when (Dialect.IsSourceDatabaseInUse(e))
        {
            var holders = await admin.ReadColumnAsync(Dialect.EveryoneOnDatabaseSql(template)!, r => Describe(r), ct).ConfigureAwait(false);
            throw new InvalidOperationException(
                $"Could not copy the template {template} into {name} ({Dialect.Name}, {_server.Provider}): {e.Message.Split('\n')[0].Trim()}. " +
                $"Sessions still connected to it: {(holders.Count == 0 ? "none any more" : string.Join(", ", holders))} " +
                $"('{EngineDialect.ControlApplicationName}' is also what connections from SchemaTarget.ConnectionString are named). " +
                "The kit ended every session on the template after the schema was built and once more now, so something keeps " +
                "reconnecting: close every connection, DbContext or data source the schema hook opened before it returns, and do " +
                "not keep any (in a static, a DI container) past it; PostgreSQL copies a template only while nobody is connected to it.", e);
        }
    }

    /// <summary>Ends the sessions <paramref name="sql"/> lists (id, application name); returns them, described.</summary>
    private async Task<List<string>> EndEveryoneAsync(DbConnection admin, string sql, CancellationToken ct)
    {
        var sessions = await admin.ReadColumnAsync(sql, r => (Id: Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture), Text: Describe(r)), ct).ConfigureAwait(false);
        foreach (var session in sessions)
        {
            try
            {
                await admin.ExecuteAsync(Dialect.KillSessionSql(session.Id), ct).ConfigureAwait(false);
            }
            catch (DbException)
            {
                // It ended on its own between the list and the kill.
            }
        }

        return sessions.Select(s => s.Text).ToList();
    }

    private static string Describe(DbDataReader r) =>
        string.Create(CultureInfo.InvariantCulture, $"session {r.GetValue(0)} ('{r.GetValue(1)}')");

    private string WithoutPassword(string message, string connectionString) =>
        Dialect.PasswordOf(connectionString) is { Length: > 0 } password ? message.Replace(password, "***", StringComparison.Ordinal) : message;

    private static partial class SchemaHookLog
    {
        [LoggerMessage(40, LogLevel.Information, "Ended {Count} session(s) still connected to the template {Template} after its schema was built: {Sessions}")]
        public static partial void TemplateSessionsEnded(ILogger logger, int count, string template, string sessions);

        [LoggerMessage(41, LogLevel.Warning, "Could not end the sessions still connected to the template {Template}: {Error}; copying it may fail")]
        public static partial void TemplateReleaseFailed(ILogger logger, string template, string error);
    }
}
