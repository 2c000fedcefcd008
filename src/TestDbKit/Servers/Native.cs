using System.Runtime.InteropServices;

namespace TestDbKit.Servers;

/// <summary>The few POSIX calls .NET does not expose: signals other than SIGKILL, and file ownership.</summary>
internal static partial class Native
{
    public const int SIGINT = 2;
    public const int SIGQUIT = 3;
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "chown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SysChown(string path, uint owner, uint group);

    [LibraryImport("libc", EntryPoint = "getpwnam", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr SysGetpwnam(string name);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint SysGeteuid();

    /// <summary>The effective user id of this process.</summary>
    public static uint EffectiveUserId() => SysGeteuid();

    /// <summary>Sends <paramref name="signal"/>; false when the process does not exist (any more).</summary>
    public static bool Signal(int pid, int signal) => pid > 0 && SysKill(pid, signal) == 0;

    /// <summary>Whether a process with this id exists and is not a zombie.</summary>
    public static bool IsAlive(int pid)
    {
        if (pid <= 0 || SysKill(pid, 0) != 0 && Marshal.GetLastPInvokeError() != 1 /* EPERM: exists */)
        {
            return false;
        }

        try
        {
            // Field 3 of /proc/PID/stat is the state; a zombie has exited but was not reaped yet.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var close = stat.LastIndexOf(')');
            return close < 0 || close + 2 >= stat.Length || stat[close + 2] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Field 22 of /proc/PID/stat (start time): tells a reused pid from the process that wrote a file.</summary>
    public static string? StartTimeOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields.ElementAtOrDefault(19);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The uid and gid of an OS user, or null when there is no such user.</summary>
    public static (uint Uid, uint Gid)? LookupUser(string name)
    {
        var pw = SysGetpwnam(name);
        if (pw == IntPtr.Zero)
        {
            return null;
        }

        // struct passwd { char* pw_name; char* pw_passwd; uid_t pw_uid; gid_t pw_gid; ... }
        var offset = 2 * IntPtr.Size;
        return ((uint)Marshal.ReadInt32(pw, offset), (uint)Marshal.ReadInt32(pw, offset + 4));
    }

    public static void Chown(string path, uint uid, uint gid)
    {
        if (SysChown(path, uid, gid) != 0)
        {
            throw new IOException($"chown {path} to {uid}:{gid} failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }
}
