using Microsoft.Extensions.Logging;

namespace TestDbKit.Engines;

/// <summary>
/// What a timeout enforcer needs (see <see cref="EngineDialect.EnforceDatabaseTimeoutAsync"/>): the server, the test
/// database and the user its test sessions log in as, the timeout, and where to say what went wrong.
/// </summary>
/// <param name="AdminConnectionString">The administrator's connection string; the enforcer opens a connection of its
/// own with it (no database, not pooled).</param>
/// <param name="Database">The test database whose sessions are watched; no other database's are touched.</param>
/// <param name="User">The user the test's sessions log in as (the kit's test user); the kit's own sessions, which log
/// in as the administrator, are never touched.</param>
/// <param name="Kind">Which timeout.</param>
/// <param name="Timeout">The timeout, as the fault was given it.</param>
/// <param name="Logger">The kit's logger for what the enforcer did and what it could not do.</param>
/// <param name="Output">The test's output, where warnings also go (standard error when null).</param>
internal sealed record TimeoutEnforcement(
    string AdminConnectionString,
    string Database,
    string User,
    TimeoutKind Kind,
    TimeSpan Timeout,
    ILogger Logger,
    Sessions.TestOutput? Output);
