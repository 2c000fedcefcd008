using System.CommandLine;
using System.Text.Json;
using TestDbKit.Servers;

namespace TestDbKit.Cli;

/// <summary><c>testdbkit serve</c>: starts a server, prints how to reach it, and runs until stopped.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var engine = EngineOption.Create(required: true);
        var provider = new Option<DbServerProvider>("--provider") { Description = "auto (default), local, docker or external", DefaultValueFactory = _ => DbServerProvider.Auto };
        var port = new Option<int?>("--port") { Description = "TCP port on 127.0.0.1 (Local); a free one by default" };
        port.Validators.Add(r =>
        {
            if (r.GetValue(port) is int p && p is < 1 or > 65535)
            {
                r.AddError("--port must be between 1 and 65535.");
            }
        });
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of text" };

        var command = new Command("serve", "Start a throwaway server, print its connection string, and run until stopped (Ctrl+C or SIGTERM).")
        {
            engine, provider, port, json,
        };
        command.SetAction(async (result, ct) =>
        {
            var dbEngine = EngineOption.Parse(result.GetValue(engine)!);
            var options = new DbServerOptions { Provider = result.GetValue(provider), Port = result.GetValue(port) };
            DbServer? server = null;
            string? error = null;
            await using (var progress = Progress.Start($"Starting a {dbEngine} server"))
            {
                try
                {
                    server = await DbServer.StartAsync(dbEngine, options, ct).ConfigureAwait(false);
                    progress.Finish($"ready ({server.Provider} provider)");
                }
                catch (DbServerException e)
                {
                    error = e.Message;
                }
            }

            if (server is null)
            {
                await Console.Error.WriteLineAsync("testdbkit serve: " + error).ConfigureAwait(false);
                return ExitCodes.Unreachable;
            }

            await using (server.ConfigureAwait(false))
            {
                // Registered so that `testdbkit chaos` knows the server is the kit's and can ask for
                // server-level faults, which only this process (the server's owner) can do.
                var control = await RegisterAsync(server).ConfigureAwait(false);
                try
                {
                    await RunAsync(server, control, result.GetValue(json), ct).ConfigureAwait(false);
                }
                finally
                {
                    if (control is not null)
                    {
                        await control.DisposeAsync().ConfigureAwait(false);
                    }
                }
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Registers an owned server for chaos; a failure costs only chaos, so serving goes on.</summary>
    private static async Task<ServerControl?> RegisterAsync(DbServer server)
    {
        if (!server.IsOwned)
        {
            return null;
        }

        try
        {
            return ServerControl.Register(server);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            await Console.Error.WriteLineAsync($"testdbkit serve: warning: 'testdbkit chaos' will not be able to break this server: {e.Message}").ConfigureAwait(false);
            return null;
        }
    }

    private static async Task RunAsync(DbServer server, ServerControl? control, bool json, CancellationToken ct)
    {
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                engine = server.Engine.ToString(),
                provider = server.Provider.ToString(),
                connectionString = server.AdminConnectionString,
                pid = server.Instance.ProcessId,
                folder = server.Instance.Folder,
                control = control?.Served.Socket,
            }));
        }
        else
        {
            Console.WriteLine(server.AdminConnectionString);
            await Console.Error.WriteLineAsync($"Serving {server}. Stop with Ctrl+C.").ConfigureAwait(false);
        }

        // SIGTERM (a pipeline's stop) and Ctrl+C end the wait; the server is then stopped and deleted.
        using var stop = new StopSignals(ct);
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped: the caller disposes the server.
        }
    }
}
