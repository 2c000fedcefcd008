using TestDbKit.Diagnostics;
using TestDbKit.Engines;

namespace TestDbKit.Servers;

/// <summary>A server someone else runs. The kit checks it can be reached and never stops it.</summary>
internal sealed class ExternalServer : ServerInstance
{
    private readonly EngineDialect _dialect;

    private ExternalServer(EngineDialect dialect, string connectionString, Endpoint endpoint)
    {
        _dialect = dialect;
        AdminConnectionString = connectionString;
        Endpoint = endpoint;
    }

    public Endpoint Endpoint { get; }

    public override DbServerProvider Provider => DbServerProvider.External;

    public override bool IsOwned => false;

    public override string AdminConnectionString { get; }

    public override string Description => $"{_dialect.Name} at {Endpoint} (External)";

    public static async Task<ExternalServer> ConnectAsync(EngineDialect dialect, string connectionString, string source, TimeSpan timeout, CancellationToken ct)
    {
        Endpoint endpoint;
        try
        {
            endpoint = dialect.Parse(connectionString);
        }
        catch (ArgumentException e)
        {
            throw new ServerStartException($"{e.Message} (connection string from {source})");
        }

        var password = dialect.PasswordOf(connectionString);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        try
        {
            await using var connection = dialect.CreateConnection(dialect.ForProbe(connectionString, timeout));
            await connection.OpenAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            var reason = e is OperationCanceledException ? $"no answer within {timeout.TotalSeconds:0} s" : Secrets.Redact(e.GetBaseException().Message, password);
            throw new ServerStartException(
                $"Could not connect to the external {dialect.Name} server at {endpoint} (from {source}): {reason}. " +
                "Check that the server runs and accepts TCP connections at that host and port, and that the user and password are right.");
        }

        return new ExternalServer(dialect, connectionString, endpoint);
    }

    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
