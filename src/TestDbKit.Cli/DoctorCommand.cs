using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using TestDbKit.Cli.Doctor;
using TestDbKit.Diagnostics;
using TestDbKit.Engines;

namespace TestDbKit.Cli;

/// <summary>
/// <c>testdbkit doctor</c>: which providers can serve here and why not, and, for a connection, what its client's
/// pool settings will break against the server's idle timeouts, in that client's own settings (<c>--client</c>).
/// Exit code 0: fine; 1: problems found; 2: the server could not be reached; 64: malformed input (the command
/// line, a connection string, a URL or a setting).
/// </summary>
internal static class DoctorCommand
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DictionaryKeyPolicy = null, // apply's keys are the client's own setting names
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public static Command Create()
    {
        var engine = EngineOption.Create(required: false, "needed with a connection string; a URL names its engine");
        var connection = new Option<string?>("--connection")
        {
            Description = "the application's connection string or URL (postgresql://, postgresql+psycopg2://, mysql://, mysql+pymysql://; query parameters are read as settings); the password is never printed",
        };
        var client = new Option<string?>("--client") { Description = "the client to advise, in its own settings: " + string.Join(", ", ClientAdvisors.Keys) + " (default: the engine's .NET driver)" };
        client.AcceptOnlyFromAmong([.. ClientAdvisors.Keys]);
        var setting = new Option<string[]>("--setting")
        {
            Description = "a client setting as name=value, repeatable (e.g. --setting pool_recycle=3600 --setting pool_pre_ping=true); for a .NET driver, a connection-string keyword",
            AllowMultipleArgumentsPerToken = false,
        };
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of text" };
        var command = new Command("doctor", "Say which providers can serve here, and what a client's pool settings will break against the server's idle timeouts.")
        {
            engine, connection, client, setting, json,
        };
        command.Validators.Add(r =>
        {
            var hasConnection = r.GetValue(connection) is { Length: > 0 };
            if (!hasConnection && (r.GetValue(client) is not null || r.GetValue(setting) is { Length: > 0 }))
            {
                r.AddError("--client and --setting need --connection (the server whose idle timeout the advice is measured against).");
            }
        });
        command.SetAction(async (result, ct) =>
        {
            var providers = await ProviderRow.AllAsync(ct).ConfigureAwait(false);
            DoctorRequest? request = null;
            IReadOnlyList<ResilienceAdvice> advice = [];
            string? error = null;
            var code = ExitCodes.Ok;
            if (result.GetValue(connection) is { Length: > 0 } cs)
            {
                try
                {
                    request = DoctorRequest.Parse(cs, result.GetValue(engine), result.GetValue(client), result.GetValue(setting) ?? []);
                }
                catch (ClientInputException e)
                {
                    await Console.Error.WriteLineAsync("testdbkit: doctor: " + e.Message).ConfigureAwait(false);
                    await Console.Error.WriteLineAsync("Run 'testdbkit doctor --help' for usage.").ConfigureAwait(false);
                    return ExitCodes.Usage;
                }

                try
                {
                    advice = await ResilienceAdvisor.AdviseAsync(request.Engine, request.Client, request.Settings, ct).ConfigureAwait(false);
                    code = advice.Any(a => a.Level == AdviceLevel.Problem) ? ExitCodes.Problems : ExitCodes.Ok;
                }
                catch (ClientInputException e)
                {
                    await Console.Error.WriteLineAsync("testdbkit: doctor: " + Secrets.Redact(e.Message, request.Password)).ConfigureAwait(false);
                    return ExitCodes.Usage;
                }
                catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException or IOException or System.Net.Sockets.SocketException or TimeoutException)
                {
                    var endpoint = EngineDialect.For(request.Engine).Parse(request.Settings.ConnectionString);
                    error = Secrets.Redact($"Could not reach the {EngineDialect.For(request.Engine).Name} server at {endpoint} to read its idle timeouts: {e.Message}", request.Password);
                    code = ExitCodes.Unreachable;
                }
            }

            if (result.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new DoctorOutput(
                    providers,
                    request is null ? null : EngineRegistry.For(request.Engine).Key,
                    request?.Client.Key,
                    [.. advice.Select(a => new AdviceOutput(a.Level.ToString(), a.Kind, a.Setting, a.Finding, a.Fix, a.Apply))],
                    error), Json));
            }
            else
            {
                foreach (var p in providers)
                {
                    Console.WriteLine(p);
                }

                if (request is not null && error is null)
                {
                    Console.WriteLine($"Advice for {request.Client.Name} on {EngineDialect.For(request.Engine).Name}:");
                }

                foreach (var a in advice)
                {
                    Console.WriteLine(a + (a.Apply.Count == 0 ? "" : " Apply: " + string.Join(" ", a.Apply.Select(kv => $"--setting \"{kv.Key}={kv.Value}\""))));
                }
            }

            if (error is not null)
            {
                await Console.Error.WriteLineAsync("testdbkit doctor: " + error).ConfigureAwait(false);
            }

            return code;
        });
        return command;
    }

    /// <summary>doctor's JSON: keys in camelCase.</summary>
    private sealed record DoctorOutput(IReadOnlyList<ProviderRow> Providers, string? Engine, string? Client, IReadOnlyList<AdviceOutput> Advice, string? Error);

    private sealed record AdviceOutput(string Level, string Kind, string Setting, string Finding, string Fix, IReadOnlyDictionary<string, string> Apply);
}
