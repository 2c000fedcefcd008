using Microsoft.EntityFrameworkCore.Storage;
using TestDbKit;

namespace Shop;

/// <summary>
/// EF Core's retrying execution strategy, retrying what <see cref="DbErrors.IsTransient"/> calls transient, on either
/// provider: <c>o.ExecutionStrategy(d => new TransientRetryStrategy(d))</c> in <c>UseNpgsql</c> or <c>UseMySql</c>.
/// Pomelo's own <c>EnableRetryOnFailure</c> does not retry MySqlConnector's "Failed to read the result set."
/// (error code 0, a session killed or a server gone under a command); this does.
/// </summary>
/// <param name="dependencies">What EF passes to the factory.</param>
public class TransientRetryStrategy(ExecutionStrategyDependencies dependencies)
    : ExecutionStrategy(dependencies, maxRetryCount: 6, maxRetryDelay: TimeSpan.FromSeconds(2))
{
    /// <inheritdoc />
    protected override bool ShouldRetryOn(Exception exception) => DbErrors.IsTransient(exception);
}
