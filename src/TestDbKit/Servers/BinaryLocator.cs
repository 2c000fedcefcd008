namespace TestDbKit.Servers;

/// <summary>Finds server executables: an explicit folder, then PATH and the usual install folders.</summary>
internal static class BinaryLocator
{
    /// <summary>Searches <paramref name="folders"/> for the first file named like one of <paramref name="names"/>.</summary>
    public static string? Find(IEnumerable<string> folders, params string[] names)
    {
        foreach (var folder in folders)
        {
            foreach (var name in names)
            {
                var path = Path.Combine(folder, name);
                if (IsExecutable(path))
                {
                    return path;
                }
            }
        }

        return null;
    }

    public static IEnumerable<string> PathFolders() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Folders matching <c>prefix/*/suffix</c>, newest version (highest number) first.</summary>
    public static IEnumerable<string> Versioned(string prefix, string suffix)
    {
        if (!Directory.Exists(prefix))
        {
            return [];
        }

        return Directory.EnumerateDirectories(prefix)
            .Select(d => (Dir: d, Version: Version.TryParse(Normalize(Path.GetFileName(d)), out var v) ? v : null))
            .Where(x => x.Version is not null)
            .OrderByDescending(x => x.Version)
            .Select(x => Path.Combine(x.Dir, suffix));

        static string Normalize(string s) => s.Contains('.', StringComparison.Ordinal) ? s : s + ".0";
    }

    public static bool IsExecutable(string path)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        return OperatingSystem.IsWindows()
            || (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
    }
}
