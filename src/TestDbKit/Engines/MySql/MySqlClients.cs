namespace TestDbKit.Engines;

/// <summary>MySQL's and MariaDB's clients for doctor: MySqlConnector, PyMySQL, Pomelo's EF Core provider.</summary>
internal sealed class MySqlClients : EngineClients
{
    public static MySqlClients Instance { get; } = new();

    public override DbEngine Engine => DbEngine.MySql;

    public override IReadOnlyList<string> Schemes { get; } = ["mysql", "mariadb"];

    public override string SqlAlchemyScheme => "mysql+pymysql";

    public override int DefaultPort => 3306;

    public override DriverAdvisor Driver => MySqlConnectorAdvisor.Instance;

    public override ClientAdvisor Python => PyMySqlAdvisor.Instance;

    public override string EfCoreRetryCall => "UseMySql(connectionString, serverVersion, o => o.EnableRetryOnFailure())";
}
