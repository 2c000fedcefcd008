namespace TestDbKit.Engines;

/// <summary>PostgreSQL's clients for doctor: Npgsql, psycopg, Npgsql's EF Core provider.</summary>
internal sealed class PostgreSqlClients : EngineClients
{
    public static PostgreSqlClients Instance { get; } = new();

    public override DbEngine Engine => DbEngine.PostgreSql;

    public override IReadOnlyList<string> Schemes { get; } = ["postgresql", "postgres"];

    public override string SqlAlchemyScheme => "postgresql+psycopg2";

    public override int DefaultPort => 5432;

    public override DriverAdvisor Driver => NpgsqlAdvisor.Instance;

    public override ClientAdvisor Python => PsycopgAdvisor.Instance;

    public override string EfCoreRetryCall => "UseNpgsql(connectionString, o => o.EnableRetryOnFailure())";
}
