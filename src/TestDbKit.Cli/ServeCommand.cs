using System.CommandLine;
using System.Text.Json;
using System.Text.RegularExpressions;
using TestDbKit.Databases;
using TestDbKit.Engines;
using TestDbKit.Servers;

namespace TestDbKit.Cli;

/// <summary><c>testdbkit serve</c>: starts a server (and, with <c>--database</c>, a kit database on it), prints how
/// to reach it, and runs until stopped.</summary>
internal static partial class ServeCommand
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
        var database = new Option<string?>("--database")
        {
            Description = $"also create the kit database {DatabaseNames.Prefix}NAME (a name already starting {DatabaseNames.Prefix} is kept) and print its fields, " +
                "with the kit's test user on MySQL so per-database faults reach its sessions",
        };
        database.Validators.Add(r =>
        {
            if (r.GetValue(database) is { } name && !DatabaseName().IsMatch(name))
            {
                r.AddError($"--database: '{name}' is not a database name the kit creates: use letters, digits and '_' (at most 48).");
            }
        });
        var json = new Option<bool>("--json") { Description = "print one JSON object (host, port, user, password, database, URLs, admin, ...) instead of text" };
        var proxy = new Option<bool>("--proxy")
        {
            Description = "also run the kit's TCP proxy on 127.0.0.1 in front of the server, for the network faults of 'testdbkit fault' and 'chaos' " +
                "(they hit every connection through it); clients that connect through it get them. Printed as the proxy object of --json, or a second line",
        };

        var command = new Command("serve", "Start a throwaway server, print how to reach it, and run until stopped (Ctrl+C or SIGTERM).")
        {
            engine, provider, port, database, json, proxy,
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
                // The proxy forwards whatever connects to it to the server: any database, any user.
                var endpoint = server.Dialect.Parse(server.AdminConnectionString);
                await using var networkProxy = result.GetValue(proxy)
                    ? new NetworkFaults(server.Dialect, server.AdminConnectionString, NetworkFaults.Resolve(endpoint.Host, endpoint.Port), $"proxy of {server}")
                    : null;
                Dictionary<string, object?> fields;
                try
                {
                    fields = await DescribeAsync(server, result.GetValue(database), networkProxy?.Port, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException or IOException)
                {
                    await Console.Error.WriteLineAsync($"testdbkit serve: the server started, but preparing it failed: {e.Message}").ConfigureAwait(false);
                    return ExitCodes.Unreachable;
                }

                // Registered so that `testdbkit fault` and `chaos` know the server is the kit's and can ask for
                // server-level faults, which only this process (the server's owner) can do, and network faults on
                // its proxy, which runs here.
                var control = await RegisterAsync(server, networkProxy).ConfigureAwait(false);
                try
                {
                    await RunAsync(server, fields, control, result.GetValue(json), ct).ConfigureAwait(false);
                }
                finally
                {
                    if (control is not null)
                    {
                        await control.DisposeAsync().ConfigureAwait(false); // undoes held faults before the proxy stops
                    }
                }
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    [GeneratedRegex("^[A-Za-z0-9_]{1,48}$")]
    private static partial Regex DatabaseName();

    /// <summary>The fields of <c>serve --json</c> but <c>pid</c>, <c>folder</c> and <c>control</c>: the server's
    /// engine, flavour and version; how the test sessions connect (the database's, with the test user on MySQL,
    /// when one was created); how the administrator does (what <c>fault</c> and <c>chaos</c> take); and, with a proxy on
    /// <paramref name="proxyPort"/>, the test sessions' fields through it.</summary>
    private static async Task<Dictionary<string, object?>> DescribeAsync(DbServer server, string? database, int? proxyPort, CancellationToken ct)
    {
        var dialect = server.Dialect;
        string flavour;
        string version;
        await using (var admin = await server.OpenAdminConnectionAsync(ct).ConfigureAwait(false))
        {
            flavour = (await EngineRegistry.Module(server.Engine).FlavourOfAsync(admin, ct).ConfigureAwait(false)).Kind.ToString().ToLowerInvariant();
            // MariaDB announces itself to old clients as "5.5.5-10.11.x-MariaDB"; the part after is its version.
            version = admin.ServerVersion is var v && v.StartsWith("5.5.5-", StringComparison.Ordinal) ? v["5.5.5-".Length..] : admin.ServerVersion;
            if (database is not null)
            {
                database = database.StartsWith(DatabaseNames.Prefix, StringComparison.Ordinal) ? database : DatabaseNames.Prefix + database;
                await admin.ExecuteAsync(dialect.CreateDatabaseSql(database, null), ct).ConfigureAwait(false);
            }
        }

        var adminCs = server.AdminConnectionString;
        var adminEnd = dialect.Parse(adminCs);
        var adminPassword = dialect.PasswordOf(adminCs);
        var cs = database is null ? adminCs : server.TestConnectionStringFor(database);
        var end = dialect.Parse(cs);
        var password = dialect.PasswordOf(cs);
        var fields = new Dictionary<string, object?>
        {
            ["engine"] = EngineClients.For(dialect.Engine).UrlScheme,
            ["flavour"] = flavour,
            ["version"] = version,
            ["provider"] = server.Provider.ToString(),
            ["host"] = end.Host,
            ["port"] = end.Port,
            ["user"] = end.User,
            ["password"] = password,
            ["database"] = database,
            ["connectionString"] = cs,
            ["url"] = DatabaseUrl.Compose(dialect.Engine, false, end.Host, end.Port, end.User, password, database),
            ["urls"] = new Dictionary<string, string> { ["sqlalchemy"] = DatabaseUrl.Compose(dialect.Engine, true, end.Host, end.Port, end.User, password, database) },
            ["admin"] = new Dictionary<string, object?>
            {
                ["user"] = adminEnd.User,
                ["password"] = adminPassword,
                ["connectionString"] = adminCs,
                ["url"] = DatabaseUrl.Compose(dialect.Engine, false, adminEnd.Host, adminEnd.Port, adminEnd.User, adminPassword, null),
            },
        };
        if (proxyPort is { } p)
        {
            // The same user, password and database as the top-level fields, at the proxy's endpoint.
            const string host = "127.0.0.1";
            fields["proxy"] = new Dictionary<string, object?>
            {
                ["host"] = host,
                ["port"] = p,
                ["connectionString"] = dialect.WithEndpoint(cs, host, p),
                ["url"] = DatabaseUrl.Compose(dialect.Engine, false, host, p, end.User, password, database),
                ["urls"] = new Dictionary<string, string> { ["sqlalchemy"] = DatabaseUrl.Compose(dialect.Engine, true, host, p, end.User, password, database) },
            };
        }

        return fields;
    }

    /// <summary>Registers an owned server for faults; a failure costs only faults, so serving goes on.</summary>
    private static async Task<ServerControl?> RegisterAsync(DbServer server, NetworkFaults? proxy)
    {
        if (!server.IsOwned)
        {
            if (proxy is not null)
            {
                await Console.Error.WriteLineAsync("testdbkit serve: warning: the proxy runs, but 'testdbkit fault' and 'chaos' reach it only on a server serve started, not an external one.").ConfigureAwait(false);
            }

            return null;
        }

        try
        {
            return ServerControl.Register(server, proxy, SessionFaults.OwnerSettings(server));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            await Console.Error.WriteLineAsync($"testdbkit serve: warning: 'testdbkit fault' and 'chaos' will not be able to break this server: {e.Message}").ConfigureAwait(false);
            return null;
        }
    }

    private static async Task RunAsync(DbServer server, Dictionary<string, object?> fields, ServerControl? control, bool json, CancellationToken ct)
    {
        if (json)
        {
            fields["pid"] = server.Instance.ProcessId;
            fields["folder"] = server.Instance.Folder;
            fields["control"] = control?.Served.Socket;
            Console.WriteLine(JsonSerializer.Serialize(fields, FaultEvents.JsonOptions));
        }
        else
        {
            Console.WriteLine(fields["connectionString"]);
            var proxy = fields.GetValueOrDefault("proxy") as Dictionary<string, object?>;
            if (proxy is not null)
            {
                Console.WriteLine(proxy["connectionString"]); // the same through the proxy, where the network faults act
            }

            await Console.Error.WriteLineAsync($"Serving {server}{(fields["database"] is { } db ? $", database {db}" : "")}" +
                $"{(proxy is null ? "" : $"; the second line goes through the kit's proxy on 127.0.0.1:{proxy["port"]}, where network faults act")}. Stop with Ctrl+C.").ConfigureAwait(false);
        }

        Console.Out.Flush();

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
