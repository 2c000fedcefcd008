using System.Data.Common;
using Microsoft.Extensions.Logging;

namespace TestDbKit;

/// <summary>
/// How the tests of a class that inherits a <c>ResilientDbTestBase</c> (xunit or NUnit) get their server, their
/// database and their connections. The kit fills it in layers, each one seeing what the one before set:
/// the built-in defaults, the assembly's <see cref="ITestDbConfiguration"/> (named by
/// <see cref="TestDbConfigurationAttribute"/>), the base constructor's isolation argument (when it is not the
/// default <see cref="IsolationMode.Reset"/>), then the test class's <c>Configure</c> override. What is still
/// unset afterwards (<see cref="Provider"/> Auto, a null <see cref="Image"/>, ...) is taken from the
/// <c>TESTDBKIT_*</c> variables, then from the defaults: code wins over variables, variables over defaults.
/// <para>Tests of classes whose options pick the same server share it, and tests whose schema and pool
/// options match share a pool: options are part of the key, so a class that asks for another
/// <see cref="MaxDatabases"/> gets a pool (and template) of its own; a class that asks for another image or
/// provider gets a server of its own. <see cref="LoggerFactory"/> is not part of either key: a server or pool
/// logs where the first test that made it said.</para>
/// </summary>
/// <example>
/// <code>
/// protected override void Configure(TestDbOptions options)
/// {
///     options.MaxDatabases = 2;
///     options.ConnectionString += c => c["Allow User Variables"] = true;   // MySqlConnector's keyword
/// }
/// </code>
/// </example>
public sealed class TestDbOptions
{
    internal TestDbOptions(DbEngine engine)
    {
        Engine = engine;
    }

    /// <summary>The engine the test class runs on (from its base constructor), so that one configuration can
    /// serve classes of both engines.</summary>
    public DbEngine Engine { get; }

    /// <summary>Which provider runs the server; <see cref="DbServerProvider.Auto"/> (the default) lets
    /// <c>TESTDBKIT_PROVIDER</c> decide. See <see cref="DbServerOptions.Provider"/>.</summary>
    public DbServerProvider Provider { get; set; } = DbServerProvider.Auto;

    /// <summary>External: the server's connection string; defaults to <c>TESTDBKIT_POSTGRES</c> /
    /// <c>TESTDBKIT_MYSQL</c>. See <see cref="DbServerOptions.ConnectionString"/>.</summary>
    public string? ServerConnectionString { get; set; }

    /// <summary>Docker: the image; defaults to <c>TESTDBKIT_POSTGRES_IMAGE</c> / <c>TESTDBKIT_MYSQL_IMAGE</c>,
    /// then to the official image. See <see cref="DbServerOptions.Image"/>.</summary>
    public string? Image { get; set; }

    /// <summary>Local: the folder of the server binaries; defaults to <c>TESTDBKIT_POSTGRES_BIN</c> /
    /// <c>TESTDBKIT_MYSQL_BIN</c>, then to a search. See <see cref="DbServerOptions.BinDirectory"/>.</summary>
    public string? BinDirectory { get; set; }

    /// <summary>Local, MySQL: <c>mariadb</c> or <c>mysql</c>, which server runs where both are installed; defaults to
    /// <c>TESTDBKIT_MYSQL_FLAVOUR</c>, then MariaDB first. See <see cref="DbServerOptions.Flavour"/>.</summary>
    public string? Flavour { get; set; }

    /// <summary>Local: keep the shared server and its templates for later runs on this machine (a developer's warm
    /// loop; never in CI); defaults to <c>TESTDBKIT_REUSE</c>. See <see cref="DbServerOptions.Reuse"/>.</summary>
    public bool? Reuse { get; set; }

    /// <summary>With <see cref="Reuse"/>: how long the kept server lives on without a run; defaults to
    /// <c>TESTDBKIT_REUSE_IDLE</c>, then 15 minutes. See <see cref="DbServerOptions.ReuseIdle"/>.</summary>
    public TimeSpan? ReuseIdle { get; set; }

    /// <summary>Local: where data directories go; defaults to <c>TESTDBKIT_DATA_ROOT</c>. See
    /// <see cref="DbServerOptions.DataRoot"/>.</summary>
    public string? DataRoot { get; set; }

    /// <summary>Local: a fixed TCP port; a free one when null. See <see cref="DbServerOptions.Port"/>.</summary>
    public int? Port { get; set; }

    /// <summary>How long starting (or reaching) the server may take. Default 60 s.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Server settings applied at start (Local and Docker), by the engine's own names. Add to it
    /// rather than replacing it, to keep what an earlier layer added. See <see cref="DbServerOptions.Settings"/>.</summary>
    public IDictionary<string, string> ServerSettings { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Where the server and the pools log (besides the test's own output, which gets the kit's
    /// information and warnings in any case). Nothing more is logged when null.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>How many databases of the class's pool may be leased at once. See
    /// <see cref="DatabasePoolOptions.MaxDatabases"/>.</summary>
    public int? MaxDatabases { get; set; }

    /// <summary>How tests are kept apart; <see cref="IsolationMode.Reset"/> by default.</summary>
    public IsolationMode Isolation { get; set; } = IsolationMode.Reset;

    /// <summary>Whether resets restart sequences and AUTO_INCREMENT counters. Default true.</summary>
    public bool ResetSequences { get; set; } = true;

    /// <summary>How old a database left behind by a crashed run must be before the janitor drops it. Default 3 hours.</summary>
    public TimeSpan StaleDatabaseAge { get; set; } = TimeSpan.FromHours(3);

    /// <summary>Files or folders the schema hook reads by a path computed at run time; on a server kept between runs
    /// their contents join the schema code's hash, so a kept template is rebuilt when they change. See
    /// <see cref="DatabasePoolOptions.SchemaFiles"/>.</summary>
    public IReadOnlyList<string>? SchemaFiles { get; set; }

    /// <summary>
    /// Shapes the connection string the test's database hands out: <c>Database.ConnectionString</c>, every
    /// connection from <c>Database.OpenConnectionAsync</c>, and <c>Connection</c>. It gets the driver's own
    /// builder (<c>NpgsqlConnectionStringBuilder</c> or <c>MySqlConnectionStringBuilder</c>) already holding
    /// the kit's string, so keywords and their aliases are the driver's and nothing needs parsing. Combine
    /// with <c>+=</c> to keep what an earlier layer added. The kit's own keys (host, port, database, user,
    /// password) must stay as they are, and it sets the application name again afterwards (it tells the
    /// kit which sessions belong to which test).
    /// <para>EF Core on MySQL with Pomelo needs it: Pomelo refuses a connection it is given unless its string has
    /// <c>AllowUserVariables=True;UseAffectedRows=False</c> ("The connection string of a connection used by
    /// Pomelo.EntityFrameworkCore.MySql must contain ...") and cannot change them on an open connection; given a
    /// string without them it connects with a rewritten string, in a driver pool apart from the test's. With the
    /// two keys set here, <c>UseMySql(Connection, ...)</c>, connections from <c>Database.OpenConnectionAsync</c> and
    /// <c>UseMySql(Database.ConnectionString, ...)</c> all work as they are, also after the kit replaced
    /// <c>Connection</c> (<c>[ResetConnection]</c>). The schema hook's <see cref="SchemaTarget.ConnectionString"/>
    /// needs nothing: Pomelo may rewrite it.</para>
    /// </summary>
    /// <example><c>options.ConnectionString += c => { c["AllowUserVariables"] = true; c["UseAffectedRows"] = false; };</c>
    /// (Pomelo on MySQL; the keys are MySqlConnector's.)</example>
    public Action<DbConnectionStringBuilder>? ConnectionString { get; set; }

    /// <summary>The server options these settings stand for (variables and defaults are applied at start).</summary>
    internal DbServerOptions ToServerOptions() => new()
    {
        Provider = Provider,
        ConnectionString = ServerConnectionString,
        Image = Image,
        BinDirectory = BinDirectory,
        Flavour = Flavour,
        Reuse = Reuse,
        ReuseIdle = ReuseIdle,
        DataRoot = DataRoot,
        Port = Port,
        StartTimeout = StartTimeout,
        Settings = new Dictionary<string, string>(ServerSettings, StringComparer.Ordinal),
        LoggerFactory = LoggerFactory,
    };

    /// <summary>The pool options these settings stand for, without the schema (the base class supplies it).</summary>
    internal DatabasePoolOptions ToPoolOptions() => new()
    {
        Isolation = Isolation,
        MaxDatabases = MaxDatabases,
        ResetSequences = ResetSequences,
        StaleDatabaseAge = StaleDatabaseAge,
        SchemaFiles = SchemaFiles,
        LoggerFactory = LoggerFactory,
    };
}

/// <summary>
/// The configuration every test class of an assembly starts from; name it with
/// <see cref="TestDbConfigurationAttribute"/> on the assembly. A class's own <c>Configure</c> override runs after
/// it and sees what it set. It runs once per test, so keep it cheap (create a logger factory once, in a static field).
/// </summary>
public interface ITestDbConfiguration
{
    /// <summary>Sets the options every test class of the assembly starts from.</summary>
    /// <param name="options">The options, holding the defaults; <see cref="TestDbOptions.Engine"/> says which engine the class uses.</param>
    void Configure(TestDbOptions options);
}

/// <summary>
/// Names the <see cref="ITestDbConfiguration"/> (a class with a public parameterless constructor) that configures
/// every test class of this assembly that inherits a <c>ResilientDbTestBase</c>. Works alike for every test
/// framework adapter, and needs no set-up hook: the kit reads it from the test class's assembly.
/// </summary>
/// <example><c>[assembly: TestDbConfiguration(typeof(SuiteDatabases))]</c></example>
/// <param name="configurationType">The class implementing <see cref="ITestDbConfiguration"/>.</param>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = false)]
public sealed class TestDbConfigurationAttribute(Type configurationType) : Attribute
{
    /// <summary>The class implementing <see cref="ITestDbConfiguration"/>.</summary>
    public Type ConfigurationType { get; } = configurationType;
}
