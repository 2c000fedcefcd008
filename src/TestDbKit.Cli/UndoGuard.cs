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
/// what is left, newest first, and exits. The administrator's connection string goes through the pipe, never the
/// command line. The helper is started at the first undo handed to it and closed (its input closed, the process
/// reaped) as soon as every undo is struck off, so none outlives the faults it guards; the next undo starts another.
/// </summary>
internal sealed class UndoGuard(EngineDialect dialect, string adminConnectionString)
{
    /// <summary>The hidden command the helper runs.</summary>
    public const string CommandName = "undo-guard";

    /// <summary>How long the helper keeps trying to reach a server that is restarting or briefly unreachable.</summary>
    private static readonly TimeSpan ReachWithin = TimeSpan.FromSeconds(30);

    private readonly Lock _gate = new();
    private readonly HashSet<int> _pending = [];
    private Process? _process;
    private int _next;

    /// <summary>Hands the helper <paramref name="sql"/> to run should this process die, starting the helper if none
    /// runs; returns its number, or null when this tool cannot start itself (then a killed step leaves its settings,
    /// as the README says).</summary>
    public int? Add(string sql)
    {
        lock (_gate)
        {
            _process ??= TryStart(dialect, adminConnectionString);
            if (_process is null)
            {
                return null;
            }

            var id = ++_next;
            _pending.Add(id);
            return Write(string.Create(CultureInfo.InvariantCulture, $"add {id} {Convert.ToBase64String(Encoding.UTF8.GetBytes(sql))}")) ? id : null;
        }
    }

    /// <summary>This process ran undo <paramref name="id"/> itself (or did not need it); the helper is closed once
    /// nothing is left for it.</summary>
    public void Remove(int id)
    {
        lock (_gate)
        {
            if (!_pending.Remove(id) || _process is not { } process)
            {
                return;
            }

            if (!Write(string.Create(CultureInfo.InvariantCulture, $"remove {id}")))
            {
                return; // the helper is gone, and Write forgot it
            }

            if (_pending.Count == 0)
            {
                _process = null;
                Close(process);
            }
        }
    }

    /// <summary>Closes the helper's input (it then has nothing to run and exits) and reaps it once it has.</summary>
    private static void Close(Process process)
    {
        try
        {
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // Gone already.
        }

        _ = process.WaitForExitAsync().ContinueWith(_ => process.Dispose(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
    }

    private static Process? TryStart(EngineDialect dialect, string adminConnectionString)
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
            return process;
        }
        catch (Exception e) when (e is IOException or System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Sends <paramref name="line"/>; false when the helper is gone (this process still undoes what it can
    /// itself, and the next change starts a new helper).</summary>
    private bool Write(string line)
    {
        try
        {
            _process!.StandardInput.WriteLine(line);
            return true;
        }
        catch (IOException)
        {
            _process?.Dispose();
            _process = null;
            _pending.Clear(); // the helper that knew them is gone
            return false;
        }
    }

    /// <summary>The hidden command: reads the engine, the connection string and the undo lines; on the end of its
    /// input runs the undo statements not struck off, newest first (so a setting changed twice ends at its first
    /// value), each once, skipping those whose database is gone. It keeps trying to reach the server for
    /// <see cref="ReachWithin"/>, and goes on past a statement that fails; each failure is written to its standard
    /// error, without the password. Exit code 1 when an undo was left undone.</summary>
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

            return pending.Count == 0 ? ExitCodes.Ok : await RunAsync(dialect, admin, pending.Values.Reverse().ToList()).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>Runs <paramref name="undo"/> in order; a statement that fails on a broken connection is tried again on
    /// a new one, any other failure is reported and the rest still run.</summary>
    private static async Task<int> RunAsync(EngineDialect dialect, string admin, IReadOnlyList<string> undo)
    {
        var where = dialect.EndpointOf(admin) ?? dialect.Name;
        var password = dialect.PasswordOfOrNull(admin);
        var deadline = Stopwatch.GetTimestamp() + (long)(ReachWithin.TotalSeconds * Stopwatch.Frequency);
        var failed = 0;
        System.Data.Common.DbConnection? connection = null;
        try
        {
            foreach (var sql in undo)
            {
                var broken = 0;
                while (true)
                {
                    connection ??= await ConnectAsync(dialect, admin, where, password, deadline).ConfigureAwait(false);
                    if (connection is null)
                    {
                        await Report($"testdbkit undo-guard: gave up reaching {dialect.Name} at {where} after {ReachWithin.TotalSeconds:0} s; not undone: {sql}", password).ConfigureAwait(false);
                        failed++;
                        break;
                    }

                    try
                    {
                        await connection.ExecuteAsync(sql, CancellationToken.None).ConfigureAwait(false);
                        break;
                    }
                    catch (System.Data.Common.DbException e) when (dialect.IsMissingDatabase(e))
                    {
                        break; // dropped meanwhile: nothing to take back
                    }
                    catch (Exception e) when (e is System.Data.Common.DbException or IOException or TimeoutException or InvalidOperationException)
                    {
                        if (connection.State != System.Data.ConnectionState.Open && ++broken < 3)
                        {
                            // The server went away mid-way (a restart): the statement runs again on a new connection.
                            await connection.DisposeAsync().ConfigureAwait(false);
                            connection = null;
                            continue;
                        }

                        await Report($"testdbkit undo-guard: on {dialect.Name} at {where}, '{sql}' failed: {e.Message}; going on with the rest. Run it by hand to take it back.", password).ConfigureAwait(false);
                        failed++;
                        break;
                    }
                }
            }
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }

        return failed == 0 ? ExitCodes.Ok : ExitCodes.Problems;
    }

    /// <summary>A connection to the server, trying again every 200 ms until <paramref name="deadline"/> (a server
    /// restarting, frozen or briefly unreachable); null when it stayed out of reach.</summary>
    private static async Task<System.Data.Common.DbConnection?> ConnectAsync(EngineDialect dialect, string admin, string where, string? password, long deadline)
    {
        var probe = dialect.ForProbe(admin, TimeSpan.FromSeconds(5));
        var tries = 0;
        while (true)
        {
            using var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(5)); // a frozen server holds an attempt forever
            try
            {
                return await dialect.OpenAsync(probe, attempt.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is System.Data.Common.DbException or IOException or TimeoutException or OperationCanceledException or System.Net.Sockets.SocketException or InvalidOperationException)
            {
                if (++tries == 1)
                {
                    await Report($"testdbkit undo-guard: cannot reach {dialect.Name} at {where} yet ({e.Message}); trying again for up to {ReachWithin.TotalSeconds:0} s.", password).ConfigureAwait(false);
                }

                if (Stopwatch.GetTimestamp() >= deadline)
                {
                    return null;
                }

                await Task.Delay(200).ConfigureAwait(false);
            }
        }
    }

    /// <summary>To standard error, never with the password (a driver may echo part of a connection string).</summary>
    private static Task Report(string message, string? password) =>
        Console.Error.WriteLineAsync(TestDbKit.Diagnostics.Secrets.Redact(message, password));
}
