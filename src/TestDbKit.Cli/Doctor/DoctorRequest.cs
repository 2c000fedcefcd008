using TestDbKit.Diagnostics;
using TestDbKit.Engines;

namespace TestDbKit.Cli.Doctor;

/// <summary>
/// What <c>testdbkit doctor</c> was asked to check: the engine, the client (the engine's .NET driver unless
/// <c>--client</c> names another), and the client's settings read from <c>--connection</c> (a connection string or
/// a URL, whose query parameters are settings) and the <c>--setting name=value</c>s after it. Built before any
/// server is contacted, so malformed input is told apart from an unreachable server.
/// </summary>
internal sealed record DoctorRequest(DbEngine Engine, ClientAdvisor Client, ClientSettings Settings, string? Password)
{
    /// <summary>Reads the command line's values; throws <see cref="ClientInputException"/> for malformed input.</summary>
    public static DoctorRequest Parse(string connection, string? engineKey, string? clientKey, IReadOnlyList<string> settingTexts)
    {
        var named = engineKey is null ? (DbEngine?)null : EngineOption.Parse(engineKey);
        var client = clientKey is null ? null : ClientAdvisors.Find(clientKey);
        if (named is null && !ClientConnection.IsUrl(connection) && client is DriverAdvisor driver)
        {
            named = driver.Engine; // --client npgsql says which engine a connection string is for
        }

        var target = ClientConnection.Parse(connection, named);
        client ??= ClientAdvisors.Default(target.Engine);
        if (!client.Supports(target.Engine))
        {
            throw new ClientInputException($"--client {client.Key} ({client.Name}) does not connect to {EngineRegistry.For(target.Engine).Name}; for it choose from " +
                string.Join(", ", ClientAdvisors.All.Where(c => c.Supports(target.Engine)).Select(c => c.Key)) + ".");
        }

        var settings = target.Settings.Concat(settingTexts.Select(ClientConnection.Setting)).ToList();
        return new DoctorRequest(target.Engine, client, client.Prepare(target.Engine, target.ConnectionString, settings), target.Password);
    }
}
