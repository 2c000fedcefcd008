using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;

namespace TestDbKit.Servers;

/// <summary>
/// Whether files the kit keeps between processes (the pristine data folders, a reused server's state) are this user's
/// own: another user could have made them first in a world-writable /dev/shm or /tmp, and whoever can write them can
/// hand the kit a server, data or a password of their choosing. The one home of that check.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal static class FolderTrust
{
    /// <summary>Nobody else may write.</summary>
    public const UnixFileMode OthersWrite = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;

    /// <summary>Nobody else may do anything (a folder of 0700, a file of 0600).</summary>
    public const UnixFileMode OthersAnything =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>A file only its owner reads and writes (0600).</summary>
    public const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Writes a file only this user can read, whole or not at all (written aside, then renamed).</summary>
    public static void WritePrivate(string path, string content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var aside = path + ".tmp-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        using (var stream = new FileStream(aside, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = PrivateFile }))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(content);
        }

        File.SetUnixFileMode(aside, PrivateFile); // an old file of that name kept its mode
        File.Move(aside, path, overwrite: true);
    }

    /// <summary>Why <paramref name="paths"/> must not be trusted: one is not owned by the effective user, has a mode bit
    /// of <paramref name="forbidden"/>, is a symbolic link or neither a folder nor a regular file, or cannot be read.
    /// Null when all are this user's own. Symbolic links are not followed (<c>stat</c> without <c>-L</c>).</summary>
    public static Task<string?> WhyUntrustedAsync(IReadOnlyList<string> paths, UnixFileMode forbidden, CancellationToken ct) =>
        WhyUntrustedAsync([.. paths.Select(p => (p, forbidden))], ct);

    /// <summary><see cref="WhyUntrustedAsync(IReadOnlyList{string}, UnixFileMode, CancellationToken)"/> with mode bits
    /// forbidden path by path (a folder others may read, a password file they may not).</summary>
    public static async Task<string?> WhyUntrustedAsync(IReadOnlyList<(string Path, UnixFileMode Forbidden)> checks, CancellationToken ct)
    {
        var paths = checks.Select(c => c.Path).ToList();
        var psi = new ProcessStartInfo("stat") { UseShellExecute = false };
        foreach (var arg in paths.Prepend("%u %a %F").Prepend("-c"))
        {
            psi.ArgumentList.Add(arg);
        }

        var result = await ProcessRunner.RunAsync(psi, TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (result.ExitCode != 0 || lines.Length != paths.Count)
        {
            return $"stat could not read them: {result.Output.Trim()}";
        }

        var me = Native.EffectiveUserId().ToString(CultureInfo.InvariantCulture);
        for (var i = 0; i < paths.Count; i++)
        {
            var fields = lines[i].Split(' ', 3);
            var mode = (UnixFileMode)Convert.ToInt32(fields[1], 8);
            if (fields[0] != me || (mode & checks[i].Forbidden) != 0 || fields[2] is not ("directory" or "regular file" or "regular empty file"))
            {
                return $"{paths[i]} is not this user's own (owner uid {fields[0]}, mode {fields[1]}, {fields[2]}); delete it to let the kit make it again";
            }
        }

        return null;
    }
}
