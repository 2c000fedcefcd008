using TestDbKit.Options;
using TestDbKit.Servers;

namespace TestDbKit.Tests.Servers;

/// <summary>
/// Which MySQL-compatible server the Local provider runs when several are installed, and that it says so. These
/// machines have MariaDB 10.11 only; a MySQL 8 server cannot be installed here, so where a MySQL 8 binary must sit
/// beside it, a script answering <c>--version</c> as MySQL 8.0's mysqld does stands in for it. It is only located,
/// never started.
/// </summary>
public sealed class MySqlFlavourChoiceTests : IDisposable
{
    private const string Variable = "TESTDBKIT_MYSQL_FLAVOUR";
    private readonly string _folder = Directory.CreateTempSubdirectory("tdk-flavour-").FullName;

    [Fact]
    public void Unset_runs_MariaDB_and_Debians_mysqld_link_is_not_a_second_server()
    {
        Assert.True(File.Exists("/usr/sbin/mysqld") && File.ResolveLinkTarget("/usr/sbin/mysqld", true)?.Name == "mariadbd",
            "premise: Debian's mariadb-server-core installs /usr/sbin/mysqld as a link to mariadbd");

        using var env = KitEnvironment.Override(new Dictionary<string, string?> { [Variable] = null });
        var recipe = Locate(null);

        Assert.Equal("MariaDB server /usr/sbin/mariadbd (MariaDB first)", recipe.Description);
    }

    [Fact]
    public void Both_installed_unset_runs_MariaDB_and_names_the_MySQL_beside_it()
    {
        var mysql = FolderWithBoth();

        using var env = KitEnvironment.Override(new Dictionary<string, string?> { [Variable] = null });
        var recipe = Locate(new Sourced(_folder, "test"));

        Assert.Equal($"MariaDB server {Path.Combine(_folder, "mariadbd")} (MariaDB first; also found MySQL {mysql}, which {Variable}=mysql picks)", recipe.Description);
    }

    [Fact]
    public void Both_installed_the_variable_picks_MySQL()
    {
        var mysql = FolderWithBoth();

        using var env = KitEnvironment.Override(new Dictionary<string, string?> { [Variable] = "mysql" });
        var recipe = Locate(new Sourced(_folder, "test"));

        Assert.StartsWith($"MySQL server {mysql} ({Variable}=mysql; also found MariaDB ", recipe.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void MariaDB_asked_for_where_only_MySQL_is_installed_says_what_to_do()
    {
        var mysql = FakeMySql();

        using var env = KitEnvironment.Override(new Dictionary<string, string?> { [Variable] = "mariadb" });
        var e = Assert.Throws<ServerStartException>(() => Locate(new Sourced(_folder, "TESTDBKIT_MYSQL_BIN")));

        Assert.Contains($"{Variable}=mariadb, but the only server in {_folder} (from TESTDBKIT_MYSQL_BIN) is MySQL {mysql}", e.Message, StringComparison.Ordinal);
        Assert.Contains("scripts/install-servers.sh", e.Message, StringComparison.Ordinal);
        Assert.Contains($"unset {Variable} to run MySQL", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MySQL_asked_for_where_only_MariaDB_is_installed_says_what_to_do()
    {
        using var env = KitEnvironment.Override(new Dictionary<string, string?> { [Variable] = "MySQL" });
        var e = Assert.Throws<ServerStartException>(() => Locate(null));

        Assert.Contains($"{Variable}=mysql, but the only server on PATH", e.Message, StringComparison.Ordinal);
        Assert.Contains("MariaDB /usr/sbin/mariadbd", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_value_that_is_no_flavour_is_refused_by_name()
    {
        using var env = KitEnvironment.Override(new Dictionary<string, string?> { [Variable] = "percona" });
        var e = Assert.Throws<ServerStartException>(() => Locate(null));

        Assert.Equal($"{Variable} is 'percona'; use mariadb or mysql, or leave it unset for whichever server is installed (MariaDB first).", e.Message);
    }

    [Fact]
    public async Task MariaDB_asked_for_is_the_server_that_starts_and_the_start_up_line_says_which()
    {
        using var env = KitEnvironment.Override(new Dictionary<string, string?> { [Variable] = "mariadb", [KitEnvironment.Provider] = null });
        await using var server = await DbServer.StartAsync(DbEngine.MySql, new DbServerOptions { Provider = DbServerProvider.Local });

        Assert.Contains($"MariaDB server /usr/sbin/mariadbd ({Variable}=mariadb)", server.ToString(), StringComparison.Ordinal);
        Assert.Contains("MariaDB", (string)(await server.ScalarAsync("SELECT VERSION()"))!, StringComparison.Ordinal);
    }

    [Fact]
    public void The_variable_is_one_the_kit_lists()
    {
        Assert.Contains(Variable, KitEnvironment.All);
        Assert.Null(KitEnvironment.FlavourVariable(DbEngine.PostgreSql)); // one flavour: nothing to pick
    }

    [Fact]
    public void Code_picks_over_the_variable_and_says_so()
    {
        var mysql = FolderWithBoth();

        using var env = KitEnvironment.Override(new Dictionary<string, string?> { [Variable] = "mariadb" });
        var resolved = ResolvedServerOptions.Of(DbEngine.MySql, new DbServerOptions { Flavour = "mysql" });
        var recipe = LocalRecipe.Locate(DbEngine.MySql, new Sourced(_folder, "test"), resolved.Flavour);

        Assert.StartsWith($"MySQL server {mysql} (DbServerOptions.Flavour=mysql; also found MariaDB ", recipe.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void PostgreSQL_given_a_flavour_refuses_it()
    {
        var resolved = ResolvedServerOptions.Of(DbEngine.PostgreSql, new DbServerOptions { Flavour = "mariadb" });
        var e = Assert.Throws<ServerStartException>(() => LocalRecipe.Locate(DbEngine.PostgreSql, null, resolved.Flavour));

        Assert.Equal("DbServerOptions.Flavour is 'mariadb', but PostgreSQL has one flavour: the flavour picks between MariaDB and MySQL. Remove it for PostgreSQL.", e.Message);
    }

    /// <summary>Locates MySQL's server as a start does: the flavour resolved from code (none here) and the variable.</summary>
    private static LocalRecipe Locate(Sourced? bin) =>
        LocalRecipe.Locate(DbEngine.MySql, bin, ResolvedServerOptions.Of(DbEngine.MySql, new DbServerOptions()).Flavour);

    /// <summary>A folder holding a link to the real mariadbd and a MySQL 8 stand-in; returns the stand-in's path.</summary>
    private string FolderWithBoth()
    {
        File.CreateSymbolicLink(Path.Combine(_folder, "mariadbd"), "/usr/sbin/mariadbd");
        File.CreateSymbolicLink(Path.Combine(_folder, "mariadb-install-db"), "/usr/bin/mariadb-install-db");
        return FakeMySql();
    }

    private string FakeMySql()
    {
        var path = Path.Combine(_folder, "mysqld");
        File.WriteAllText(path, "#!/bin/sh\necho \"/usr/sbin/mysqld  Ver 8.0.40-0ubuntu0.24.04.1 for Linux on x86_64 ((Ubuntu))\"\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
