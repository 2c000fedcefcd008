using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using TestDbKit.Engines;

namespace TestDbKit.Cli;

/// <summary>
/// A detached helper process (this tool, in its own session) that takes back the settings <c>fault</c> or <c>chaos</c>
/// changed on a server no <c>testdbkit serve</c> owns, should the changing process die before it does so itself: a
/// killed step must not leave other runs' databases read-only. The changer writes each undo statement into the
/// guard's standard input, a pipe only it holds, and strikes it off once run; when the pipe closes, the guard runs
/// what is left and exits. The administrator's connection string goes through the pipe, never the command line.
/// </summary>
internal sealed class UndoGuard
{
    /// <summary>The hidden command the helper runs.</summary>
    public const string CommandName = "undo-guard";

    private readonly Process _process;
    private readonly Lock _gate = new();
    private int _next;

    private UndoGuard(Process process) => _process = process;

    /// <summary>Starts a guard for the server <paramref name="adminConnectionString"/> reaches; null when this tool
    /// cannot start itself (then a killed step leaves its settings, as the README says).</summary>
    public static UndoGuard? TryStart(EngineDialect dialect, string adminConnectionString)
    {
        if (OperatingSystem.IsWindows() || Environment.ProcessPath is not { } host)
        {
            return null;
        }

        // Its own session (setsid): a pipeline that kills the step's process group must not take the guard too.
        var psi = new ProcessStartInfo(File.Exists("/usr/bin/setsid") ? "/usr/bin/setsid" : host)
        {
            // Its output is not the step's: a pipeline reading the step's output must not wait for the guard.
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (psi.FileName != host)
        {
            psi.ArgumentList.Add(host);
        }

        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            psi.ArgumentList.Add(typeof(UndoGuard).Assembly.Location); // run as 'dotnet TestDbKit.Cli.dll'
        }

        psi.ArgumentList.Add(CommandName);
        try
        {
            var process = Process.Start(psi)!;
            process.StandardInput.AutoFlush = true;
            process.StandardInput.WriteLine(dialect.Key);
            process.StandardInput.WriteLine(adminConnectionString);
            return new UndoGuard(process);
        }
        catch (Exception e) when (e is IOException or System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Hands the guard <paramref name="sql"/> to run should this process die; returns its number.</summary>
    public int Add(string sql)
    {
        lock (_gate)
        {
            var id = ++_next;
            Write(string.Create(CultureInfo.InvariantCulture, $"add {id} {Convert.ToBase64String(Encoding.UTF8.GetBytes(sql))}"));
            return id;
        }
    }

    /// <summary>This process ran undo <paramref name="id"/> itself.</summary>
    public void Remove(int id)
    {
        lock (_gate)
        {
            Write(string.Create(CultureInfo.InvariantCulture, $"remove {id}"));
        }
    }

    private void Write(string line)
    {
        try
        {
            _process.StandardInput.WriteLine(line);
        }
        catch (IOException)
        {
            // The guard is gone; this process still undoes what it can itself.
        }
    }

    /// <summary>The hidden command: reads the engine, the connection string and the undo lines; on the end of its
    /// input runs the undo statements not struck off, each once, skipping those whose database is gone.</summary>
    public static Command Create()
    {
        var command = new Command(CommandName, "takes back the settings of a fault process that died (started by fault and chaos)") { Hidden = true };
        command.SetAction(async (_, ct) =>
        {
            var dialect = EngineRegistry.FromKey(await Console.In.ReadLineAsync(ct).ConfigureAwait(false) ?? "");
            var admin = await Console.In.ReadLineAsync(ct).ConfigureAwait(false) ?? "";
            var pending = new SortedDictionary<int, string>();
            while (await Console.In.ReadLineAsync(CancellationToken.None).ConfigureAwait(false) is { } line)
            {
                var parts = line.Split(' ');
                if (parts is ["add", var id, var sql])
                {
                    pending[int.Parse(id, CultureInfo.InvariantCulture)] = Encoding.UTF8.GetString(Convert.FromBase64String(sql));
                }
                else if (parts is ["remove", var done])
                {
                    pending.Remove(int.Parse(done, CultureInfo.InvariantCulture));
                }
            }

            if (pending.Count == 0)
            {
                return ExitCodes.Ok;
            }

            await using var connection = await dialect.OpenAsync(dialect.ForProbe(admin, TimeSpan.FromSeconds(30)), CancellationToken.None).ConfigureAwait(false);
            foreach (var sql in pending.Values)
            {
                try
                {
                    await connection.ExecuteAsync(sql, CancellationToken.None).ConfigureAwait(false);
                }
                catch (System.Data.Common.DbException e) when (dialect.IsMissingDatabase(e))
                {
                    // Dropped meanwhile: nothing to take back.
                }
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}
