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

    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    internal KeptServer(string folder, bool attached, string? testPassword)
    {
        Folder = folder;
        Attached = attached;
        TestPassword = testPassword;
    }

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
        WritePrivate(Path.Combine(Folder, "test-password"), password);
        TestPassword = password;
    }

    /// <summary>Registers this run as a user of the server.</summary>
    public void Register() =>
        WritePrivate(Path.Combine(RunsFolder, DatabaseNames.RunId), $"{Environment.ProcessId} {Native.StartTimeOf(Environment.ProcessId)}\n");

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
            var parts = File.ReadAllText(Path.Combine(RunsFolder, runId)).Trim().Split(' ');
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
        WritePrivate(Path.Combine(TemplatesFolder, hash + ".json"), JsonSerializer.Serialize(template));

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

    /// <summary>Writes a file only this user can read, whole or not at all (written aside, then renamed).</summary>
    internal static void WritePrivate(string path, string content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var aside = path + ".tmp-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        using (var stream = new FileStream(aside, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = Private }))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(content);
        }

        File.SetUnixFileMode(aside, Private); // an old file of that name kept its mode
        File.Move(aside, path, overwrite: true);
    }
}

/// <summary>A template database kept on a reused server, and what the pool learnt when it built it.</summary>
internal sealed record KeptTemplate(string Name, Engines.ChangeMarks Marks, string? Fingerprint, bool EmptySchema);
