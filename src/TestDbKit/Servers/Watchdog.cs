using System.Diagnostics;

namespace TestDbKit.Servers;

/// <summary>
/// A tiny shell process that cleans up after a server when the test process dies without doing so
/// itself (killed, crashed, or simply exited). It reads commands on its standard input, a pipe only this
/// process holds: when that pipe closes without <c>disarm</c>, the owner is gone, and the watchdog stops
/// the server, removes the container and deletes the data directory.
/// </summary>
internal sealed class Watchdog : IDisposable
{
    // Commands, one a line: "pid N" / "signal SIG" / "dir PATH" / "container ID" / "disarm".
    private const string Script = """
        trap '' INT HUP TERM PIPE
        pid= sig=TERM dir= container=
        while IFS= read -r line; do
          case "$line" in
            "pid "*) pid=${line#pid } ;;
            "signal "*) sig=${line#signal } ;;
            "dir "*) dir=${line#dir } ;;
            "container "*) container=${line#container } ;;
            disarm) exit 0 ;;
          esac
        done
        alive() { [ -e "/proc/$pid" ] && ! grep -q ') Z' "/proc/$pid/stat" 2>/dev/null; }
        # A frozen server's children lead sessions of their own: each needs its SIGCONT, or it stays stopped, orphaned.
        tree() { echo "$1"; for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree "$c"; done; }
        if [ -n "$pid" ]; then
          kill -CONT $(tree "$pid") 2>/dev/null
          kill -"$sig" "$pid" 2>/dev/null
          i=0
          while [ $i -lt 100 ] && alive; do sleep 0.1; i=$((i+1)); done
          kill -KILL "$pid" 2>/dev/null
        fi
        if [ -n "$container" ]; then docker rm -f -v "$container" >/dev/null 2>&1; fi
        if [ -n "$dir" ]; then rm -rf -- "$dir"; fi
        """;

    private readonly Process _process;
    private readonly object _gate = new();
    private bool _closed;

    private Watchdog(Process process) => _process = process;

    /// <summary>Starts a watchdog; null when no POSIX shell is available (the cleanup then relies on the
    /// sweep of stale directories at the next start).</summary>
    public static Watchdog? TryStart()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() || !File.Exists("/bin/sh"))
        {
            return null;
        }

        var psi = new ProcessStartInfo(File.Exists("/usr/bin/setsid") ? "/usr/bin/setsid" : "/bin/sh")
        {
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (psi.FileName != "/bin/sh")
        {
            // Its own session: a Ctrl+C in the terminal must not take the watchdog down before the owner.
            psi.ArgumentList.Add("/bin/sh");
        }

        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(Script);
        var process = Process.Start(psi)!;
        process.StandardInput.AutoFlush = true;
        return new Watchdog(process);
    }

    public void WatchProcess(int pid, int signal) => Send($"signal {signal}", $"pid {pid}");

    public void WatchContainer(string id) => Send($"container {id}");

    public void WatchDirectory(string path) => Send($"dir {path}");

    /// <summary>The owner cleaned up itself: the watchdog exits without touching anything.</summary>
    public void Disarm()
    {
        lock (_gate)
        {
            if (!_closed)
            {
                TryWrite("disarm");
                Close();
            }
        }
    }

    /// <summary>Acts as if the owner died: the watchdog cleans up now (used by tests and at dispose).</summary>
    public void Trigger()
    {
        lock (_gate)
        {
            Close();
        }
    }

    public void Dispose()
    {
        Disarm();
        _process.Dispose();
    }

    private void Send(params string[] lines)
    {
        if (lines.Any(l => l.Contains('\n', StringComparison.Ordinal)))
        {
            throw new ArgumentException("Watchdog commands are single lines.", nameof(lines));
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            foreach (var line in lines)
            {
                TryWrite(line);
            }
        }
    }

    private void TryWrite(string line)
    {
        try
        {
            _process.StandardInput.WriteLine(line);
        }
        catch (IOException)
        {
            // The watchdog is gone; nothing more it can do for us.
        }
    }

    private void Close()
    {
        _closed = true;
        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
            // Already gone.
        }
    }
}
