using System.Globalization;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Configurations;
using DotNet.Testcontainers.Containers;
using DotNet.Testcontainers.Images;
using Microsoft.Extensions.Logging;
using TestDbKit.Diagnostics;
using TestDbKit.Engines;

namespace TestDbKit.Servers;

/// <summary>A server in a container, run through the engine's Testcontainers module (each engine's
/// <see cref="EngineModule.BuildContainer"/>).</summary>
internal sealed class DockerServer : ServerInstance
{
    /// <summary>Label on every container the kit starts, so a later run can find leftovers.</summary>
    public const string Label = "org.testdbkit.owner";

    private readonly IContainer _container;
    private readonly Watchdog? _watchdog;
    private readonly ImageFacts? _supervised;
    private int _disposed;

    private DockerServer(EngineDialect dialect, IContainer container, string image, string adminConnectionString, Watchdog? watchdog, ImageFacts? supervised)
    {
        Dialect = dialect;
        _container = container;
        Image = image;
        AdminConnectionString = adminConnectionString;
        _watchdog = watchdog;
        _supervised = supervised;
    }

    /// <summary>Whether the server runs under the kit's supervisor with its data folder in memory
    /// (<see cref="ContainerRequest.Supervisor"/>): then the crash and restart faults act inside the container.</summary>
    internal bool DataInMemory => _supervised is not null;

    public EngineDialect Dialect { get; }

    /// <summary>The container's id as docker ps shows it.</summary>
    private string ShortId => _container.Id[..Math.Min(12, _container.Id.Length)];

    public string Image { get; }

    public override DbServerProvider Provider => DbServerProvider.Docker;

    public override bool IsOwned => true;

    public override string AdminConnectionString { get; }

    public override string Description =>
        $"{Dialect.Name} in container {ShortId} ({Image}) on {_container.Hostname}:{Dialect.Parse(AdminConnectionString).Port}";

    public static async Task<DockerServer> StartAsync(DbEngine engine, Options.ResolvedServerOptions resolved, ILogger logger, CancellationToken ct)
    {
        var module = EngineRegistry.Module(engine);
        var dialect = module.Dialect;
        var options = resolved.Options;
        var image = resolved.Image;
        // A bad variable is the first thing to fix, engine or not.
        Func<Docker.DotNet.Models.ImageInspectResponse, bool> pull;
        try
        {
            pull = PullPolicyFromEnvironment();
        }
        catch (ArgumentException e)
        {
            throw new ServerStartException(e.Message);
        }

        if (await DockerProbe.WhyUnavailableAsync(ct: ct).ConfigureAwait(false) is { } why)
        {
            throw new ServerStartException(
                $"Cannot start a {dialect.Name} container: {why}. Start a Docker engine (Debian: scripts/docker-setup.sh), " +
                "point DOCKER_HOST at one, or use another provider (TESTDBKIT_PROVIDER=local).");
        }

        var password = Secrets.NewPassword();
        await SweepOnce.Value.ConfigureAwait(false);
        var labels = new Dictionary<string, string>
        {
            [Label] = $"{Environment.MachineName}:{Environment.ProcessId}:{Native.StartTimeOf(Environment.ProcessId)}",
        };

        // A host port of our choosing, not a random one: a restarted container keeps it, so connection
        // strings (and the pools keyed by them) stay valid across crash and restart faults.
        var hostPort = Ports.Free();

        // Testcontainers gets the user's logger alone (its chatter is not the test's output), with the password
        // redacted: it logs every command it runs in the container, and MySQL's readiness probe passes the password.
        var containerLogger = new Diagnostics.RedactingLogger(logger is Diagnostics.KitLogger kit ? kit.Inner : logger, password);
        // The image's entrypoint, to run under the supervisor; an image not here yet (to be pulled) keeps today's way.
        var facts = await ImageFactsAsync(image, ct).ConfigureAwait(false);
        if (facts is null)
        {
            Log.DockerDataOnDisk(logger, image);
        }

        var container = module.BuildContainer(new ContainerRequest(
            image, password, hostPort, options.Settings, pull, labels, containerLogger, facts?.Entrypoint, facts?.Environment));
        var watchdog = Watchdog.TryStart();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(options.StartTimeout);
            await container.StartAsync(timeout.Token).ConfigureAwait(false);
            watchdog?.WatchContainer(container.Id);
            var host = container.Hostname is "localhost" ? "127.0.0.1" : container.Hostname;
            var cs = dialect.BuildConnectionString(host, container.GetMappedPublicPort(module.ContainerPort), module.AdminUser, password, null, "testdbkit-admin");
            var server = new DockerServer(dialect, container, image, cs, watchdog, facts);
            Log.ServerStarted(logger, server.Description, clock.ElapsedMilliseconds);
            return server;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            watchdog?.Dispose();
            await container.DisposeAsync().ConfigureAwait(false);
            // One line (Docker's answers carry line breaks), without the final full stop: the sentence below adds its own.
            var detail = string.Join(' ', Secrets.Redact(e.GetBaseException().Message, password).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)).TrimEnd('.');
            throw new ServerStartException(await WhyNotStartedAsync(module, image, detail, ct).ConfigureAwait(false));
        }
        catch
        {
            watchdog?.Dispose();
            await container.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public override async Task CrashAsync(CancellationToken ct)
    {
        if (_supervised is not null)
        {
            // SIGKILL to every process in the container but its PID 1, the supervisor, which starts the server again
            // on the same data (a stopped container would lose its tmpfs).
            await InsideAsync("kill -s KILL -- -1", ct).ConfigureAwait(false);
            await WaitUntilReadyAsync(ct).ConfigureAwait(false);
            return;
        }

        // docker kill: SIGKILL to the container's processes, no shutdown; then the same container again.
        await DockerApiAsync(HttpMethod.Post, $"/containers/{_container.Id}/kill?signal=KILL", ct).ConfigureAwait(false);
        await WaitUntilStoppedAsync(ct).ConfigureAwait(false);
        await _container.StartAsync(ct).ConfigureAwait(false);
    }

    public override async Task RestartAsync(CancellationToken ct)
    {
        if (_supervised is not null)
        {
            // The signal docker stop would send (the image's STOPSIGNAL), to the server alone; the supervisor starts it again.
            await InsideAsync($"kill -s {_supervised.StopSignal} \"$old\"", ct).ConfigureAwait(false);
            await WaitUntilReadyAsync(ct).ConfigureAwait(false);
            return;
        }

        await _container.StopAsync(ct).ConfigureAwait(false);
        await _container.StartAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Runs <paramref name="kill"/> in the container, then waits until the server it hit is gone (its process
    /// id, <c>$old</c>, reaped by the supervisor), so that no later probe reaches the old server.</summary>
    private async Task InsideAsync(string kill, CancellationToken ct)
    {
        var script = $"old=$(cat {ContainerRequest.ServerPidFile}) || exit 2; touch {ContainerRequest.AgainFile}; {kill} || {{ rm -f {ContainerRequest.AgainFile}; exit 2; }}; " +
            "i=0; while kill -0 \"$old\" 2>/dev/null; do i=$((i+1)); [ $i -lt 600 ] || exit 3; sleep 0.05; done";
        var result = await ExecAsync(["/bin/sh", "-c", script], ct).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"Could not stop the server inside {Description} ({kill}): exit code {result.ExitCode} {result.Stderr.Trim()}. " +
                $"Its log: docker logs {ShortId}.");
        }
    }

    /// <summary>Runs <paramref name="command"/> in the container (docker exec).</summary>
    internal Task<ExecResult> ExecAsync(IList<string> command, CancellationToken ct) => _container.ExecAsync(command, ct);

    /// <summary>Polls until the server the supervisor started again takes a connection (a refused one costs
    /// next to nothing).</summary>
    private async Task WaitUntilReadyAsync(CancellationToken ct)
    {
        var probe = Dialect.ForProbe(AdminConnectionString, TimeSpan.FromSeconds(5));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await using var connection = Dialect.CreateConnection(probe);
                await connection.OpenAsync(ct).ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                if (clock.Elapsed > TimeSpan.FromSeconds(60))
                {
                    throw new InvalidOperationException(
                        $"{Description} took no connection within 60 s of its restart inside the container (last error: " +
                        $"{Secrets.Redact(e.Message, Dialect.PasswordOf(AdminConnectionString) ?? "")}). Its log: docker logs {ShortId}.", e);
                }
            }

            await Task.Delay(20, ct).ConfigureAwait(false);
        }
    }

    public override Task FreezeAsync(CancellationToken ct) => _container.PauseAsync(ct);

    public override Task ThawAsync(CancellationToken ct) => _container.UnpauseAsync(ct);

    /// <summary>Removes containers this machine's dead test processes left behind (killed along with their
    /// watchdog); returns how many.</summary>
    internal static async Task<int> SweepStaleAsync(CancellationToken ct)
    {
        var (created, _) = DockerProbe.CreateClient();
        if (created is null)
        {
            return 0;
        }

        using var client = created;
        var filter = Uri.EscapeDataString($"{{\"label\":[\"{Label}\"]}}");
        using var response = await client.GetAsync(new Uri($"/containers/json?all=1&filters={filter}", UriKind.Relative), ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            return 0;
        }

        using var json = await System.Text.Json.JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false), cancellationToken: ct).ConfigureAwait(false);
        var removed = 0;
        foreach (var item in json.RootElement.EnumerateArray())
        {
            var owner = item.GetProperty("Labels").TryGetProperty(Label, out var value) ? value.GetString() ?? "" : "";
            var parts = owner.Split(':');
            if (parts.Length != 3 || parts[0] != Environment.MachineName || !int.TryParse(parts[1], out var pid)
                || (Native.IsAlive(pid) && Native.StartTimeOf(pid) == parts[2]))
            {
                continue; // another machine's, or its process still runs
            }

            using var delete = await client.DeleteAsync(new Uri($"/containers/{item.GetProperty("Id").GetString()}?force=1&v=1", UriKind.Relative), ct).ConfigureAwait(false);
            removed += delete.IsSuccessStatusCode ? 1 : 0;
        }

        return removed;
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _container.DisposeAsync().ConfigureAwait(false);
        _watchdog?.Dispose();
    }

    private static readonly Lazy<Task> SweepOnce = new(async () =>
    {
        try
        {
            await SweepStaleAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or System.Text.Json.JsonException)
        {
            // A failed sweep must not stop a start; the next run tries again.
        }
    });

    private async Task DockerApiAsync(HttpMethod method, string path, CancellationToken ct)
    {
        var (created, why) = DockerProbe.CreateClient();
        using var client = created ?? throw new InvalidOperationException($"Cannot reach the Docker engine: {why}.");
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        using var response = await client.SendAsync(request, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException(
                $"The Docker engine refused {method} {path} for {Description}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false)}");
        }
    }

    private async Task WaitUntilStoppedAsync(CancellationToken ct)
    {
        var (created, why) = DockerProbe.CreateClient();
        using var client = created ?? throw new InvalidOperationException($"Cannot reach the Docker engine: {why}.");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (!await IsRunningAsync(client, _container.Id, ct).ConfigureAwait(false))
            {
                return;
            }

            await Task.Delay(20, ct).ConfigureAwait(false);
        }

        throw new InvalidOperationException($"{Description} was still running 30 s after docker kill.");
    }

    /// <summary>Whether the engine says container <paramref name="id"/> runs (its inspection's <c>State.Running</c>).</summary>
    internal static async Task<bool> IsRunningAsync(HttpClient client, string id, CancellationToken ct)
    {
        using var json = System.Text.Json.JsonDocument.Parse(
            await client.GetStringAsync(new Uri($"/containers/{id}/json", UriKind.Relative), ct).ConfigureAwait(false));
        return json.RootElement.GetProperty("State").GetProperty("Running").GetBoolean();
    }

    /// <summary>The start failure's message. Which image is missing is asked of the engine, not guessed from
    /// Testcontainers' words: its resource reaper (Ryuk) starts first, from an image of its own, and a pull of that
    /// one failing read as if the database image were missing.</summary>
    private static async Task<string> WhyNotStartedAsync(EngineModule module, string image, string detail, CancellationToken ct)
    {
        var tried = $"Could not start a {module.Dialect.Name} container from image '{image}' (pull policy: {PullPolicyName()}): {detail}. ";
        var ryuk = TestcontainersSettings.ResourceReaperEnabled ? TestcontainersSettings.ResourceReaperImage?.FullName : null;
        var ryukMissing = ryuk is not null && await IsLocalImageAsync(ryuk, ct).ConfigureAwait(false) == false;
        var imageMissing = await IsLocalImageAsync(image, ct).ConfigureAwait(false) == false;
        var databaseAdvice =
            $"build it (this repository's scripts/docker-setup.sh builds local images for every engine and prints the {module.ImageVariable} to set), " +
            $"pull it (docker pull {image}), or name a local image with {module.ImageVariable}.";
        if (ryukMissing)
        {
            return $"Could not start a {module.Dialect.Name} container: Testcontainers starts its resource reaper (Ryuk) before any container, " +
                $"and Ryuk's image '{ryuk}' is not on this machine and could not be pulled ({detail}). " +
                "Set TESTCONTAINERS_RYUK_DISABLED=true (the kit removes its own containers: its watchdog, and the sweep at the next start), " +
                $"or make that image available (docker pull {ryuk} where a registry is reachable, or name a local copy with TESTCONTAINERS_RYUK_CONTAINER_IMAGE)." +
                (imageMissing ? $" The database image '{image}' is not on this machine either: {databaseAdvice}" : "");
        }

        return imageMissing
            ? tried + "The image is not on this machine and could not be pulled: " + databaseAdvice
            : tried + "Check that the image runs (docker run) and that the engine has room.";
    }

    /// <summary>The image's stop signal as <c>kill -s</c> takes it (it goes into a shell script): a name such as TERM,
    /// or TERM where the image names something else.</summary>
    private static string StopSignalOf(string signal)
    {
        var name = signal.StartsWith("SIG", StringComparison.Ordinal) ? signal[3..] : signal;
        return name.Length > 0 && name.All(char.IsAsciiLetterUpper) ? name : "TERM";
    }

    /// <summary>What the kit needs of an image to supervise its server: its entrypoint, environment and stop signal.</summary>
    internal sealed record ImageFacts(IReadOnlyList<string> Entrypoint, IReadOnlyList<string> Environment, string StopSignal);

    /// <summary>The image's facts, or null where the engine does not hold it yet (Testcontainers pulls it at the
    /// start), it has no entrypoint, or the engine cannot be asked.</summary>
    internal static async Task<ImageFacts?> ImageFactsAsync(string image, CancellationToken ct)
    {
        if (await InspectImageAsync(image, ct).ConfigureAwait(false) is not { Json: { } json })
        {
            return null;
        }

        using (json)
        {
            try
            {
                var config = json.RootElement.GetProperty("Config");
                static List<string> Strings(System.Text.Json.JsonElement parent, string name) =>
                    parent.TryGetProperty(name, out var list) && list.ValueKind == System.Text.Json.JsonValueKind.Array
                        ? [.. list.EnumerateArray().Select(e => e.GetString() ?? "")]
                        : [];
                var entrypoint = Strings(config, "Entrypoint");
                var signal = config.TryGetProperty("StopSignal", out var s) && s.GetString() is { Length: > 0 } named ? named : "SIGTERM";
                return entrypoint.Count == 0
                    ? null
                    : new ImageFacts(entrypoint, Strings(config, "Env"), StopSignalOf(signal));
            }
            catch (KeyNotFoundException)
            {
                return null;
            }
        }
    }

    /// <summary>Whether the engine holds <paramref name="image"/>; null when the engine cannot be asked.</summary>
    internal static async Task<bool?> IsLocalImageAsync(string image, CancellationToken ct)
    {
        var inspected = await InspectImageAsync(image, ct).ConfigureAwait(false);
        inspected?.Json?.Dispose();
        return inspected is not { } found ? null
            : found.Json is not null ? true
            : found.Status == System.Net.HttpStatusCode.NotFound ? false
            : null;
    }

    /// <summary>The engine's answer about <paramref name="image"/> (<c>docker image inspect</c>): its status, and its
    /// body when found (the caller disposes it); null when the engine cannot be asked or does not answer within 5 s.</summary>
    private static async Task<(System.Net.HttpStatusCode Status, System.Text.Json.JsonDocument? Json)?> InspectImageAsync(string image, CancellationToken ct)
    {
        var (created, _) = DockerProbe.CreateClient();
        if (created is null)
        {
            return null;
        }

        using var client = created;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(5)); // an engine that stopped answering must not hold the caller
        try
        {
            using var response = await client.GetAsync(new Uri($"/images/{image}/json", UriKind.Relative), timeout.Token).ConfigureAwait(false);
            return (response.StatusCode, response.IsSuccessStatusCode
                ? await System.Text.Json.JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false), cancellationToken: timeout.Token).ConfigureAwait(false)
                : null);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or System.Text.Json.JsonException || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            return null;
        }
    }

    private static string PullPolicyName() =>
        Options.KitEnvironment.DockerPullPolicy;

    /// <summary><c>TESTDBKIT_DOCKER_PULL</c>: never (offline CI with local images), missing (default), always.</summary>
    private static Func<Docker.DotNet.Models.ImageInspectResponse, bool> PullPolicyFromEnvironment() => PullPolicyName() switch
    {
        "never" => PullPolicy.Never,
        "always" => PullPolicy.Always,
        _ => PullPolicy.Missing, // KitEnvironment refuses any other word
    };
}
