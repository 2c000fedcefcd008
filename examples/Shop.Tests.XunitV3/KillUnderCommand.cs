using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace Shop.Tests;

/// <summary>
/// Breaks a unit of work in the middle: the first time the context is about to send an INSERT, <c>kill</c> ends the
/// session behind the command's connection, so the INSERT meets a dead session (as when an operator or a failover
/// kills it while the application works). Later commands, a retry's included, go through untouched.
/// </summary>
public sealed class KillUnderCommand(Func<DbConnection, CancellationToken, Task> kill) : DbCommandInterceptor
{
    private int _armed = 1;

    /// <summary>How many sessions it killed (0 or 1): the premise of a test that relies on it.</summary>
    public int Killed => 1 - Volatile.Read(ref _armed);

    /// <inheritdoc />
    public override async ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command.CommandText.Contains("INSERT", StringComparison.OrdinalIgnoreCase) && Interlocked.Exchange(ref _armed, 0) == 1)
        {
            await kill(command.Connection!, cancellationToken);
        }

        return result;
    }
}
