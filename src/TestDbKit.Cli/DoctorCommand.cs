using System.CommandLine;
using System.Text.Json;
using TestDbKit.Servers;

namespace TestDbKit.Cli;

/// <summary>
/// <c>testdbkit doctor</c>: which providers can serve here and why not, and, for a connection string, what
/// its pool settings will break against the server's idle timeouts. Exit code 0: fine; 1: problems found;
/// 2: the server could not be reached.
/// </summary>
internal static class DoctorCommand
{
    public static Command Create()
    {
        var engine = EngineOption.Create(required: false, "needed with --connection");
        var connection = new Option<string?>("--connection") { Description = "a connection string to check (its password is never printed)" };
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of text" };
        var command = new Command("doctor", "Say which providers can serve here, and what a connection string's pool settings will break.")
        {
            engine, connection, json,
        };
        command.Validators.Add(r =>
        {
            if (r.GetValue(connection) is { Length: > 0 } && r.GetValue(engine) is null)
            {
                r.AddError("--connection needs --engine " + string.Join(" or --engine ", Engines.EngineRegistry.Keys) + ".");
            }
        });
        command.SetAction(async (result, ct) =>
        {
            var providers = new List<object>();
            foreach (var dbEngine in Engines.EngineRegistry.All.Select(e => e.Engine))
            {
                string? why = null;
                try
                {
                    if (!OperatingSystem.IsLinux())
                    {
                        why = "the Local provider runs on Linux only";
                    }
                    else
                    {
                        _ = LocalRecipe.Locate(dbEngine, Options.ResolvedServerOptions.Of(dbEngine, new DbServerOptions()).BinDirectory);
                    }
                }
                catch (ServerStartException e)
                {
                    why = e.Message;
                }

                providers.Add(new { provider = "Local", engine = dbEngine.ToString(), available = why is null, why });
            }

            var docker = await DockerProbe.WhyUnavailableAsync(ct: ct).ConfigureAwait(false);
            providers.Add(new { provider = "Docker", engine = "both", available = docker is null, why = docker });
            foreach (var variable in Engines.EngineRegistry.Modules.Select(m => m.ConnectionVariable))
            {
                var set = Options.KitEnvironment.Get(variable) is not null;
                providers.Add(new { provider = "External", engine = variable, available = set, why = set ? null : $"{variable} is not set" });
            }

            IReadOnlyList<ResilienceAdvice> advice = [];
            string? error = null;
            if (result.GetValue(connection) is { Length: > 0 } cs)
            {
                var dbEngine = EngineOption.Parse(result.GetValue(engine)!);
                try
                {
                    advice = await ResilienceAdvisor.AdviseAsync(dbEngine, cs, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is System.Data.Common.DbException or ArgumentException or InvalidOperationException or IOException)
                {
                    var password = Engines.EngineDialect.For(dbEngine).PasswordOfOrNull(cs);
                    error = Diagnostics.Secrets.Redact($"Could not check the connection string against its server: {e.Message}", password);
                }
            }

            if (result.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    providers,
                    advice = advice.Select(a => new { level = a.Level.ToString(), a.Setting, a.Finding, a.Fix }),
                    error,
                }));
            }
            else
            {
                foreach (var p in providers)
                {
                    Console.WriteLine(Describe(p));
                }

                foreach (var a in advice)
                {
                    Console.WriteLine(a);
                }

                if (error is not null)
                {
                    await Console.Error.WriteLineAsync("testdbkit doctor: " + error).ConfigureAwait(false);
                }
            }

            return error is not null ? ExitCodes.Unreachable : advice.Any(a => a.Level == AdviceLevel.Problem) ? ExitCodes.Problems : ExitCodes.Ok;
        });
        return command;
    }

    private static string Describe(object provider)
    {
        var json = JsonSerializer.SerializeToElement(provider);
        var name = $"{json.GetProperty("provider").GetString()} ({json.GetProperty("engine").GetString()})";
        return json.GetProperty("available").GetBoolean()
            ? $"{name}: available"
            : $"{name}: not available: {json.GetProperty("why").GetString()}";
    }
}
