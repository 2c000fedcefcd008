using System.Diagnostics;

namespace TestDbKit.Cli.Tests;

/// <summary>The tool as users get it: named <c>testdbkit</c> in its own help, and installable from a folder of
/// packed packages (the README's way before a package is published) with nothing but that folder as a source.</summary>
public sealed class ToolTests
{
    [Fact]
    public async Task Help_names_the_tool_testdbkit_and_lists_the_faults_only_under_the_commands_that_inject_them()
    {
        var (code, root, _) = await CliProcess.RunAsync("--help");
        Assert.Equal(0, code);
        Assert.Contains("  testdbkit [command] [options]", root, StringComparison.Ordinal);
        Assert.DoesNotContain("TestDbKit.Cli", root, StringComparison.Ordinal);
        Assert.DoesNotContain("kill-idle", root, StringComparison.Ordinal); // no fault list at the root
        foreach (var command in new[] { "serve", "fault", "chaos", "doctor" })
        {
            Assert.Contains($"  {command} ", root, StringComparison.Ordinal);
        }

        var (faultCode, fault, _) = await CliProcess.RunAsync("fault", "--help");
        Assert.Equal(0, faultCode);
        Assert.Contains("  testdbkit fault <KIND> [options]", fault, StringComparison.Ordinal);
        Assert.Contains("Faults:", fault, StringComparison.Ordinal);
        Assert.Contains("  idle-in-transaction ", fault, StringComparison.Ordinal);
        Assert.Contains("  network-reset ", fault, StringComparison.Ordinal); // listed, with where it is available

        var (chaosCode, chaos, _) = await CliProcess.RunAsync("chaos", "--help");
        Assert.Equal(0, chaosCode);
        Assert.Contains("  testdbkit chaos [options]", chaos, StringComparison.Ordinal);
        Assert.Contains("  kill-idle ", chaos, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_packed_tool_installs_from_a_folder_and_runs_as_testdbkit()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"tdk-tool-{Guid.NewGuid():N}");
        var feed = Path.Combine(folder, "feed");
        Directory.CreateDirectory(folder);
        try
        {
            // The tool as built beside these tests (no rebuild while other tests run it), packed into a folder.
            var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;
            var project = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../src/TestDbKit.Cli/TestDbKit.Cli.csproj"));
            var pack = await CliProcess.RunAsync(CliProcess.Dotnet("pack", project, "--no-build", "-c", configuration, "-o", feed, "--nologo"), TimeSpan.FromMinutes(2));
            Assert.True(pack.Code == 0, pack.Stdout + pack.Stderr);

            // Only that folder as a source, and a package cache of its own (a cached older build is never used).
            await File.WriteAllTextAsync(Path.Combine(folder, "nuget.config"),
                $"""<?xml version="1.0" encoding="utf-8"?><configuration><packageSources><clear /><add key="feed" value="{feed}" /></packageSources></configuration>""");
            var install = CliProcess.Dotnet("tool", "install", "TestDbKit.Cli", "--tool-path", Path.Combine(folder, "tools"), "--configfile", Path.Combine(folder, "nuget.config"));
            install.Environment["NUGET_PACKAGES"] = Path.Combine(folder, "packages");
            var installed = await CliProcess.RunAsync(install, TimeSpan.FromMinutes(2));
            Assert.True(installed.Code == 0, installed.Stdout + installed.Stderr);

            var psi = new ProcessStartInfo(Path.Combine(folder, "tools", "testdbkit")) { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add("--help");
            var (code, help, stderr) = await CliProcess.RunAsync(psi, TimeSpan.FromMinutes(1));
            Assert.True(code == 0, stderr);
            Assert.Contains("  testdbkit [command] [options]", help, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
