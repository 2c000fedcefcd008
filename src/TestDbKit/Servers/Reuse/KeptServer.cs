using System.Globalization;
using System.Runtime.Versioning;
using System.Text.Json;
using TestDbKit.Databases;

namespace TestDbKit.Servers.Reuse;

/// <summary>
/// This run's hold on a server kept between runs (<see cref="DbServerOptions.Reuse"/>): its state folder, the run's
/// registration there (a live registered run keeps the server from its idle stop, and its databases from the next run's
/// sweep), and the templates kept on it, by schema code hash.
/// </summary>
/// <remarks>
/// The folder holds <c>lock</c> (taken with flock by runs and by the idle watcher), <c>state</c> (server and watcher
/// process, port, data folder), <c>password</c> and <c>test-password</c> (0600), <c>runs/RUNID</c> (the pid and start
/// time of each run using the server) and <c>templates/HASH.json</c> (a kept template; its write time is its last use).
/// </remarks>
[UnsupportedOSPlatform("windows")]
internal sealed class KeptServer
{
    /// <summary>How many templates are kept per server: a few schemas (or branches) a developer switches between.</summary>
    public const int TemplatesKept = 4;


    internal KeptServer(string folder, bool attached, string? testPassword)
    {
        Folder = folder;
        Attached = attached;
        TestPassword = testPassword;
    }

    private readonly HashSet<string> _usedTemplates = new(StringComparer.Ordinal);

    /// <summary>The server's state folder.</summary>
    public string Folder { get; }

    /// <summary>Whether an earlier run started the server (false: this run did, and keeps it).</summary>
    public bool Attached { get; }

    /// <summary>The password of the kit's test user on a MySQL server, kept so that runs sharing the server do not
    /// change it under each other; null until a run made the user.</summary>
    public string? TestPassword { get; private set; }

    private string RunsFolder => Path.Combine(Folder, "runs");

    private string TemplatesFolder => Path.Combine(Folder, "templates");

    /// <summary>Keeps the test user's password for later runs.</summary>
    public void SaveTestPassword(string password)
    {
        FolderTrust.WritePrivate(Path.Combine(Folder, "test-password"), password);
        TestPassword = password;
    }

    /// <summary>Takes the state folder's lock (runs that made the test user at once would each set a password and
    /// lock the other's sessions out), and reads the test user's password a run that held it before may have kept.</summary>
    public async Task<IAsyncDisposable> LockForTestUserAsync(CancellationToken ct)
    {
        var held = await LockAsync(ct).ConfigureAwait(false);
        var file = Path.Combine(Folder, "test-password");
        TestPassword ??= File.Exists(file) ? (await File.ReadAllTextAsync(file, ct).ConfigureAwait(false)).Trim() : null;
        return held;
    }

    /// <summary>Registers this run as a user of the server: its process on the first line (what the idle watcher
    /// reads), then the hash of each kept template it copies from, which no other run may drop while this one lives.</summary>
    public void Register()
    {
        string[] hashes;
        lock (_usedTemplates)
        {
            hashes = [.. _usedTemplates];
        }

        FolderTrust.WritePrivate(Path.Combine(RunsFolder, DatabaseNames.RunId),
            $"{Environment.ProcessId} {Native.StartTimeOf(Environment.ProcessId)}\n" + string.Concat(hashes.Select(h => h + "\n")));
    }

    /// <summary>Records that this run copies from the kept template of <paramref name="hash"/> (see <see cref="Register"/>).</summary>
    public void UseTemplate(string hash)
    {
        lock (_usedTemplates)
        {
            if (!_usedTemplates.Add(hash))
            {
                return;
            }
        }

        Register();
    }

    /// <summary>The kept templates that other live runs copy from.</summary>
    public HashSet<string> TemplatesOfOtherLiveRuns()
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var run in Directory.Exists(RunsFolder) ? Directory.EnumerateFiles(RunsFolder).Select(Path.GetFileName).OfType<string>() : [])
        {
            if (run.Contains(".tmp-", StringComparison.Ordinal) || run == DatabaseNames.RunId || !IsLiveRun(run))
            {
                continue;
            }

            try
            {
                used.UnionWith(File.ReadAllLines(Path.Combine(RunsFolder, run)).Skip(1).Where(l => l.Length > 0));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile: its run ended.
            }
        }

        return used;
    }

    /// <summary>Takes the state folder's lock, for a change to the kept templates that must not cross another run's.</summary>
    public async Task<IAsyncDisposable> LockAsync(CancellationToken ct) =>
        await ServerKeeping.LockAsync(Folder, TimeSpan.FromSeconds(60), ct).ConfigureAwait(false);

    /// <summary>This run no longer uses the server (its idle time starts once no registered run is alive).</summary>
    public void Unregister()
    {
        try
        {
            File.Delete(Path.Combine(RunsFolder, DatabaseNames.RunId));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A dead pid does not count anyway.
        }
    }

    /// <summary>Whether another registered run whose process is alive uses the server.</summary>
    public bool HasOtherLiveRuns() =>
        Directory.Exists(RunsFolder) && Directory.EnumerateFiles(RunsFolder)
            .Select(Path.GetFileName)
            .Any(run => run is not null && !run.Contains(".tmp-", StringComparison.Ordinal) && run != DatabaseNames.RunId && IsLiveRun(run));

    /// <summary>Whether <paramref name="runId"/> is a registered run whose process is alive (this one included).</summary>
    public bool IsLiveRun(string runId)
    {
        if (runId == DatabaseNames.RunId)
        {
            return true;
        }

        try
        {
            var parts = (File.ReadLines(Path.Combine(RunsFolder, runId)).FirstOrDefault() ?? "").Trim().Split(' ');
            return int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && Native.IsAlive(pid) && Native.StartTimeOf(pid) == parts.ElementAtOrDefault(1);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The kept template for <paramref name="hash"/>, marked used; null when there is none.</summary>
    public KeptTemplate? FindTemplate(string hash)
    {
        var file = Path.Combine(TemplatesFolder, hash + ".json");
        try
        {
            var template = JsonSerializer.Deserialize<KeptTemplate>(File.ReadAllText(file));
            File.SetLastWriteTimeUtc(file, DateTime.UtcNow);
            return template;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    /// <summary>Keeps <paramref name="template"/> for later runs under <paramref name="hash"/>.</summary>
    public void SaveTemplate(string hash, KeptTemplate template) =>
        FolderTrust.WritePrivate(Path.Combine(TemplatesFolder, hash + ".json"), JsonSerializer.Serialize(template));

    /// <summary>Forgets the template of <paramref name="hash"/> (its database is gone).</summary>
    public void ForgetTemplate(string hash) => File.Delete(Path.Combine(TemplatesFolder, hash + ".json"));

    /// <summary>The kept templates, most recently used first.</summary>
    public IReadOnlyList<(string Hash, KeptTemplate Template)> Templates()
    {
        if (!Directory.Exists(TemplatesFolder))
        {
            return [];
        }

        var found = new List<(string, KeptTemplate, DateTime)>();
        foreach (var file in Directory.GetFiles(TemplatesFolder, "*.json"))
        {
            try
            {
                if (JsonSerializer.Deserialize<KeptTemplate>(File.ReadAllText(file)) is { } template)
                {
                    found.Add((Path.GetFileNameWithoutExtension(file), template, File.GetLastWriteTimeUtc(file)));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
            {
                // Being replaced, or broken: not a template to keep.
            }
        }

        return [.. found.OrderByDescending(t => t.Item3).Select(t => (t.Item1, t.Item2))];
    }
}

/// <summary>A template database kept on a reused server, and what the pool learnt when it built it.</summary>
internal sealed record KeptTemplate(string Name, Engines.ChangeMarks Marks, string? Fingerprint, bool EmptySchema);
