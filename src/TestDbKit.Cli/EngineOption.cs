using System.CommandLine;
using TestDbKit.Engines;

namespace TestDbKit.Cli;

/// <summary>The <c>--engine</c> option every command shares: its values are the registry's keys, and the names
/// <c>serve --json</c> prints as <c>engine</c> (the URL schemes: postgresql, mysql, and mariadb).</summary>
internal static class EngineOption
{
    public static Option<string> Create(bool required, string? extra = null)
    {
        var option = new Option<string>("--engine")
        {
            Description = string.Join(" or ", EngineRegistry.Keys) + (extra is null ? "" : $" ({extra})"),
            Required = required,
        };
        option.AcceptOnlyFromAmong([.. EngineRegistry.Keys, .. EngineClients.AllSchemes.Except(EngineRegistry.Keys)]);
        return option;
    }

    /// <summary>The engine the parsed value names.</summary>
    public static DbEngine Parse(string key) => EngineClients.ForName(key)?.Engine ?? EngineRegistry.FromKey(key).Engine;
}
