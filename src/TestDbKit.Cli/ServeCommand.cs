using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace TestDbKit.Cli;

/// <summary><c>testdbkit serve</c>: starts a server, prints how to reach it, and runs until stopped.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var engine = new Option<string>("--engine") { Description = "postgres or mysql", Required = true };
        engine.AcceptOnlyFromAmong("postgres", "mysql");
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
            var dbEngine = result.GetValue(engine) == "mysql" ? DbEngine.MySql : DbEngine.PostgreSql;
            var options = new DbServerOptions { Provider = result.GetValue(provider), Port = result.GetValue(port) };
            if (!result.GetValue(json))
            {
                await Console.Error.WriteLineAsync($"Starting {dbEngine} ...").ConfigureAwait(false);
            }

            DbServer server;
            try
            {
                server = await DbServer.StartAsync(dbEngine, options, ct).ConfigureAwait(false);
            }
            catch (DbServerException e)
            {
                await Console.Error.WriteLineAsync("testdbkit serve: " + e.Message).ConfigureAwait(false);
                return 2;
            }

            await using (server.ConfigureAwait(false))
            {
                if (result.GetValue(json))
                {
                    Console.WriteLine(JsonSerializer.Serialize(new
                    {
                        engine = dbEngine.ToString(),
                        provider = server.Provider.ToString(),
                        connectionString = server.AdminConnectionString,
                        pid = server.Instance.ProcessId,
                        folder = server.Instance.Folder,
                    }));
                }
                else
                {
                    Console.WriteLine(server.AdminConnectionString);
                    await Console.Error.WriteLineAsync($"Serving {server}. Stop with Ctrl+C.").ConfigureAwait(false);
                }

                // SIGTERM (a pipeline's stop) and Ctrl+C end the wait; the server is then stopped and deleted.
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                void Stop(PosixSignalContext context)
                {
                    context.Cancel = true;
                    stop.Cancel();
                }

                using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
                using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
                try
                {
                    await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // Stopped: dispose the server below.
                }
            }

            return 0;
        });
        return command;
    }
}
