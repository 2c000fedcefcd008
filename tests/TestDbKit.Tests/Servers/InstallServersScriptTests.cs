using System.Diagnostics;
using TestDbKit.Tests.Common;

namespace TestDbKit.Tests.Servers;

/// <summary>
/// scripts/install-servers.sh picks the MySQL-compatible flavour as the kit does and never fights a preinstalled
/// MySQL's packages (GitHub's ubuntu-24.04 runners ship MySQL 8.0): asked for MariaDB beside it, it stops and says how
/// to proceed instead of letting apt replace MySQL. MySQL 8 cannot be installed on these machines, so a script that
/// answers <c>--version</c> as MySQL 8.0's mysqld does stands in for it (through TESTDBKIT_MYSQL_BIN). The machine's
/// other packages are installed already (the suite's set-up ran the script), so nothing is installed here.
/// </summary>
public sealed class InstallServersScriptTests : IDisposable
{
    private readonly string _mysql = Directory.CreateTempSubdirectory("tdk-mysql8-").FullName;

    public InstallServersScriptTests()
    {
        var mysqld = Path.Combine(_mysql, "mysqld");
        File.WriteAllText(mysqld, "#!/bin/sh\necho \"/usr/sbin/mysqld  Ver 8.0.40-0ubuntu0.24.04.1 for Linux on x86_64 ((Ubuntu))\"\n");
        File.SetUnixFileMode(mysqld, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    [Fact]
    public async Task MariaDB_asked_for_beside_a_preinstalled_MySQL_stops_and_says_how()
    {
        var (code, _, errors) = await RunAsync(bin: _mysql, flavour: "mariadb");

        Assert.True(code == 1, $"exit {code}: {errors}");
        Assert.Contains("TESTDBKIT_MYSQL_FLAVOUR=mariadb, but the server found is MySQL", errors, StringComparison.Ordinal);
        Assert.Contains("Installing MariaDB would remove MySQL's packages, so this script does not", errors, StringComparison.Ordinal);
        Assert.Contains("sudo apt-get purge -y", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_preinstalled_MySQL_with_no_flavour_asked_is_used_and_named()
    {
        var (code, _, errors) = await RunAsync(bin: _mysql, flavour: null);

        Assert.True(code == 0, $"exit {code}: {errors}");
        Assert.Contains($"MySQL found ({_mysql}/mysqld: /usr/sbin/mysqld  Ver 8.0.40", errors, StringComparison.Ordinal);
        Assert.Contains("set TESTDBKIT_MYSQL_FLAVOUR=mariadb", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MariaDB_installed_satisfies_mariadb_and_refuses_mysql()
    {
        Assert.True(File.Exists("/usr/sbin/mariadbd"), "premise: MariaDB's server is installed");

        var (quiet, _, nothing) = await RunAsync(bin: null, flavour: "mariadb");
        var (refused, _, errors) = await RunAsync(bin: null, flavour: "mysql");

        Assert.True(quiet == 0 && nothing.Length == 0, $"exit {quiet}: {nothing}");
        Assert.True(refused == 1, $"exit {refused}: {errors}");
        Assert.Contains("TESTDBKIT_MYSQL_FLAVOUR=mysql, but the server found is MariaDB (/usr/sbin/mariadbd)", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_flavour_that_is_none_is_refused_as_input()
    {
        var (code, _, errors) = await RunAsync(bin: null, flavour: "percona");

        Assert.Equal(64, code);
        Assert.Contains("TESTDBKIT_MYSQL_FLAVOUR is 'percona'; use mariadb, mysql", errors, StringComparison.Ordinal);
    }

    private static Task<(int Code, string Stdout, string Stderr)> RunAsync(string? bin, string? flavour)
    {
        var psi = new ProcessStartInfo("bash", [RepositoryFiles.Path("scripts", "install-servers.sh")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true, // nothing to read: the script must not wait for anyone
        };
        foreach (var (name, value) in new[] { ("TESTDBKIT_MYSQL_BIN", bin), ("TESTDBKIT_MYSQL_FLAVOUR", flavour) })
        {
            if (value is null)
            {
                psi.Environment.Remove(name);
            }
            else
            {
                psi.Environment[name] = value;
            }
        }

        return ChildProcess.RunAsync(psi, TimeSpan.FromMinutes(2));
    }

    public void Dispose() => Directory.Delete(_mysql, recursive: true);
}
