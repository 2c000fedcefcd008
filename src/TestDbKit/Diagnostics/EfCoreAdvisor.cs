using TestDbKit.Engines;

namespace TestDbKit.Diagnostics;

/// <summary>
/// EF Core over the engine's .NET driver: the driver's pool settings (its connection string), plus EF Core's
/// execution strategy, which retries a unit of work that failed with a transient error. The strategy is set in
/// code, so doctor takes it as <c>--setting EnableRetryOnFailure=true</c> (or <c>ExecutionStrategy=NAME</c> for a
/// custom one); every other setting goes to the driver.
/// </summary>
internal sealed class EfCoreAdvisor : ClientAdvisor
{
    private const string Retry = "EnableRetryOnFailure";
    private const string Strategy = "ExecutionStrategy";

    public static EfCoreAdvisor Instance { get; } = new();

    public override string Key => "efcore";

    public override string Name => "EF Core";

    public override bool Supports(DbEngine engine) => true;

    public override ClientSettings Prepare(DbEngine engine, string connectionString, IReadOnlyList<KeyValuePair<string, string>> settings)
    {
        bool Own(KeyValuePair<string, string> s) =>
            s.Key.Equals(Retry, StringComparison.OrdinalIgnoreCase) || s.Key.Equals(Strategy, StringComparison.OrdinalIgnoreCase);
        var driver = EngineClients.For(engine).Driver.Prepare(engine, connectionString, [.. settings.Where(s => !Own(s))]);
        return Checked(engine, new ClientSettings(driver.ConnectionString, settings.Where(Own)));
    }

    public override IReadOnlyList<ResilienceAdvice> Advise(DbEngine engine, ClientSettings settings, ServerTimeouts server)
    {
        var clients = EngineClients.For(engine);
        var advice = new List<ResilienceAdvice>(clients.Driver.Advise(engine, settings, server));
        var retries = (settings.Flag(Retry) ?? false) || settings.Text(Strategy) is { Length: > 0 };
        advice.Add(retries
            ? Advice(AdviceLevel.Info, AdviceKinds.Retry, Retry,
                "Failed units of work are retried on transient errors (a dropped connection among them).",
                "Wrap user-initiated transactions in strategy.ExecuteAsync(...) so the whole transaction is retried.")
            : Advice(AdviceLevel.Warning, AdviceKinds.Retry, Retry,
                "No execution strategy: a connection the server or the network dropped fails SaveChanges or the query outright, though a retry would succeed.",
                $"Use {clients.EfCoreRetryCall} (or a custom execution strategy); wrap user-initiated transactions in strategy.ExecuteAsync(...).", (Retry, "true")));
        return advice;
    }
}
