using TestDbKit.Options;
using TestDbKit.Servers;

namespace TestDbKit.Cli.Doctor;

/// <summary>
/// One provider for one engine, as doctor reports it: whether it can serve here, and if not, why and what to do.
/// <paramref name="Engine"/> is the engine's <c>--engine</c> key; <paramref name="Variable"/> the environment
/// variable that configures the provider for that engine; <paramref name="Image"/> the image Docker would run.
/// </summary>
internal sealed record ProviderRow(string Provider, string Engine, bool Available, string? Why, string? Variable, string? Image)
{
    public override string ToString()
    {
        var name = $"{Provider} ({Engine}{(Image is null ? "" : ", image " + Image)})";
        return Available ? $"{name}: available" + (Why is null ? "" : $" ({Why})") : $"{name}: not available: {Why}";
    }

    /// <summary>Every provider for every registered engine, asked here and now.</summary>
    public static async Task<IReadOnlyList<ProviderRow>> AllAsync(CancellationToken ct)
    {
        var rows = new List<ProviderRow>();
        foreach (var module in Engines.EngineRegistry.Modules)
        {
            rows.Add(Local(module));
        }

        var docker = await DockerProbe.WhyUnavailableAsync(ct: ct).ConfigureAwait(false);
        foreach (var module in Engines.EngineRegistry.Modules)
        {
            var image = ResolvedServerOptions.Of(module.Engine, new DbServerOptions()).Image;
            rows.Add(docker is null
                ? new("Docker", module.Key, true, await ImageNoteAsync(image, ct).ConfigureAwait(false), module.ImageVariable, image)
                : new("Docker", module.Key, false, $"{docker}: start a Docker engine, or point DOCKER_HOST at one", module.ImageVariable, image));
        }

        foreach (var module in Engines.EngineRegistry.Modules)
        {
            var set = KitEnvironment.Get(module.ConnectionVariable) is not null;
            rows.Add(new("External", module.Key, set,
                set ? null : $"{module.ConnectionVariable} is not set: set it to the connection string of a {module.Name} server you run, to test against that server",
                module.ConnectionVariable, null));
        }

        return rows;
    }

    private static ProviderRow Local(Engines.EngineModule module)
    {
        if (!OperatingSystem.IsLinux())
        {
            return new("Local", module.Key, false, "the Local provider runs on Linux only", module.BinVariable, null);
        }

        try
        {
            // Which binary, which flavour and why: where MariaDB and MySQL are both installed, the choice is visible here.
            var resolved = ResolvedServerOptions.Of(module.Engine, new DbServerOptions());
            var recipe = LocalRecipe.Locate(module.Engine, resolved.BinDirectory, resolved.Flavour);
            return new("Local", module.Key, true, "runs " + recipe.Description, module.BinVariable, null);
        }
        catch (ServerStartException e)
        {
            return new("Local", module.Key, false, e.Message, module.BinVariable, null);
        }
    }

    /// <summary>Whether the image is already on the Docker engine (it is pulled on first use otherwise, which needs a registry).</summary>
    private static async Task<string?> ImageNoteAsync(string image, CancellationToken ct)
    {
        var (client, _) = DockerProbe.CreateClient();
        if (client is null)
        {
            return null;
        }

        using (client)
        {
            try
            {
                using var response = await client.GetAsync(new Uri($"/images/{image}/json", UriKind.Relative), ct).ConfigureAwait(false);
                return response.IsSuccessStatusCode
                    ? "image present locally"
                    : $"image not present locally: it is pulled on first use (TESTDBKIT_DOCKER_PULL={KitEnvironment.DockerPullPolicy}), which needs a registry";
            }
            catch (Exception e) when (e is HttpRequestException or IOException or System.Net.Sockets.SocketException)
            {
                return null;
            }
        }
    }
}
