using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;

namespace TestDbKit.Servers.Reuse;

/// <summary>
/// A detached shell process that stops a kept server once no registered run has been alive for the idle time, even
/// when no later run comes: it outlives the run that started it (its own session, no pipe to the run), so neither the
/// run's exit nor its <see cref="Watchdog"/> ends it. Stopping, it takes the state folder's lock (a run attaching at that
/// moment waits, then finds no state and starts fresh), stops the server, deletes its data folder and the state. It
/// exits without touching anything when the state names another watcher (a run found the server stale and replaced it).
/// </summary>
[UnsupportedOSPlatform("windows")]
internal static class IdleWatcher
{
    // Arguments: state folder, watcher id, server pid, its start time, data folder, stop signal, idle ms, poll seconds.
    private const string Script = """
        dir=$1 id=$2 pid=$3 pstart=$4 data=$5 sig=$6 idle=$7 poll=$8
        now() { echo $(( $(date +%s%N) / 1000000 )); }
        started() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
        live() { [ -n "$1" ] && [ -n "$2" ] && [ "$(started "$1")" = "$2" ]; }
        mine() { grep -qx "watcher-id=$id" "$dir/state" 2>/dev/null; }
        busy() {
          b=1
          for f in "$dir"/runs/*; do
            [ -f "$f" ] || continue
            case "$f" in *.tmp-*) b=0; continue ;; esac # a run writing its registration right now
            p= s=
            read -r p s < "$f"
            if live "$p" "$s"; then b=0; else rm -f -- "$f"; fi
          done
          return $b
        }
        stop() {
          if live "$pid" "$pstart"; then
            kill -CONT "$pid" 2>/dev/null
            kill -"$sig" "$pid" 2>/dev/null
            i=0
            while [ $i -lt 100 ] && live "$pid" "$pstart"; do sleep 0.1; i=$((i+1)); done
            live "$pid" "$pstart" && kill -KILL "$pid" 2>/dev/null
          fi
          rm -rf -- "$data"
          rm -rf -- "$dir/state" "$dir/password" "$dir/test-password" "$dir/runs" "$dir/templates"
        }
        trap '' INT HUP PIPE
        last=$(now)
        while :; do
          mine || exit 0
          if ! live "$pid" "$pstart"; then
            exec 9>>"$dir/lock"; flock 9
            mine && stop
            exit 0
          fi
          if busy; then
            last=$(now)
          elif [ $(( $(now) - last )) -ge "$idle" ]; then
            exec 9>>"$dir/lock"; flock 9
            if mine && ! busy; then stop; exit 0; fi
            flock -u 9; exec 9>&-
            last=$(now)
          fi
          sleep "$poll"
        done
        """;

    /// <summary>Starts the watcher for the server <paramref name="serverPid"/>; returns its pid and start time.</summary>
    /// <exception cref="IOException">It could not be started.</exception>
    public static async Task<(int Pid, string Start)> StartAsync(
        string stateFolder, string id, int serverPid, string dataFolder, int stopSignal, TimeSpan idle, CancellationToken ct)
    {
        var serverStart = Native.StartTimeOf(serverPid) ?? throw new IOException($"the server process {serverPid} is gone");
        // Poll often enough to stop within a tenth of the idle time, but at most every 2 s (a few forks each time).
        var poll = Math.Clamp(idle.TotalSeconds / 10, 0.05, 2);
        var psi = new ProcessStartInfo("/bin/sh");
        // The watcher gets a session of its own and no pipe of ours: `dotnet test` waits for every holder of its pipes.
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("script=$1; shift; /usr/bin/setsid /bin/sh -c \"$script\" tdk-idle-watcher \"$@\" </dev/null >/dev/null 2>&1 & echo $!");
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add(Script);
        foreach (var arg in new[]
                 {
                     stateFolder, id, serverPid.ToString(CultureInfo.InvariantCulture), serverStart, dataFolder,
                     stopSignal.ToString(CultureInfo.InvariantCulture),
                     ((long)idle.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
                     poll.ToString("0.###", CultureInfo.InvariantCulture),
                 })
        {
            psi.ArgumentList.Add(arg);
        }

        var result = await ProcessRunner.RunAsync(psi, TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
        if (result.ExitCode != 0 || !int.TryParse(result.Output.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            || Native.StartTimeOf(pid) is not { } start)
        {
            throw new IOException($"the idle watcher (/bin/sh, /usr/bin/setsid) did not start: {result.Output.Trim()}");
        }

        return (pid, start);
    }
}
