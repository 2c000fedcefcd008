namespace TestDbKit.Tests.Common;

/// <summary>Files of the source tree (scripts, Python clients), found from the repository root: the folder holding
/// TestDbKit.sln above the test's output. Nothing is copied into the build output.</summary>
public static class RepositoryFiles
{
    /// <summary>The path of <paramref name="path"/> (parts relative to the repository root).</summary>
    /// <exception cref="InvalidOperationException">No TestDbKit.sln above the test's output.</exception>
    public static string Path(params string[] path)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "TestDbKit.sln")))
            {
                return System.IO.Path.Combine([dir.FullName, .. path]);
            }
        }

        throw new InvalidOperationException($"no TestDbKit.sln above {AppContext.BaseDirectory}: the test reads files of the source tree.");
    }
}
