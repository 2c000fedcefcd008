using System.Diagnostics;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;
using TestDbKit.Diagnostics;

namespace TestDbKit.Servers;

/// <summary>
/// A freshly initialised data folder per engine binaries, made once per user and machine boot, copied for every Local
/// server instead of running <c>initdb</c> / <c>mariadb-install-db</c> again: that step is most of a cold start
/// (0.7–2.5 s for PostgreSQL, 0.7–1 s for MariaDB), a copy of its result a small part of it. The folder holds no test
/// data (it is never started), so nothing is carried between runs. It sits beside the default data root (on a RAM
/// file system where there is one, so a reboot empties it), in a folder only its user can list, with the admin
/// password it was made with in a file only that user can read: servers made from it share that password, which
/// stays on this machine, like the data folders themselves.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal static class PristineDataFolders
{
    /// <summary>Off for tests that need a data folder initialised the slow way.</summary>
    internal static bool Enabled { get; set; } = true;

    /// <summary>Where the pristine folders of the default data root live, one per OS user.</summary>
    internal static string CacheRoot => RootFor(LocalServer.DefaultDataRoot());

    /// <summary>The pristine folders beside a data root (the default one, or <c>TESTDBKIT_DATA_ROOT</c>: a user who moved
    /// the data off a full or unusable file system moves these too).</summary>
    internal static string RootFor(string dataRoot) => dataRoot.TrimEnd('/') + "-pristine";

    /// <summary>Initialises <paramref name="layout"/>'s data folder, from a copy of the pristine one when possible,
    /// and returns the admin password the server then has. Where the pristine folder cannot be made, trusted or copied,
    /// initialises the folder the slow way, whose errors say what to do.</summary>
    public static async Task<string> InitializeAsync(LocalRecipe recipe, LocalLayout layout, string dataRoot, TimeSpan timeout, Microsoft.Extensions.Logging.ILogger logger, CancellationToken ct)
    {
        if (Enabled)
        {
            var cacheRoot = RootFor(dataRoot);
            try
            {
                var folder = Path.Combine(cacheRoot, $"{recipe.Dialect.Key}-{KeyOf(recipe)}");
                if (!File.Exists(Path.Combine(folder, "password")))
                {
                    await BuildAsync(recipe, cacheRoot, folder, timeout, ct).ConfigureAwait(false);
                }
                else
                {
                    SweepAbandoned(cacheRoot);
                }

                if (await WhyUntrustedAsync(cacheRoot, folder, ct).ConfigureAwait(false) is { } why)
                {
                    throw new IOException(why);
                }

                var copied = await ProcessRunner.RunAsync(Copy(Path.Combine(folder, "layout"), layout.Root), timeout, ct).ConfigureAwait(false);
                if (copied.ExitCode != 0)
                {
                    throw new IOException($"cp exit code {copied.ExitCode}: {copied.Output.Trim()}");
                }

                return (await File.ReadAllTextAsync(Path.Combine(folder, "password"), ct).ConfigureAwait(false)).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ServerStartException)
            {
                Log.PristineUnusable(logger, cacheRoot, e.Message);
                EmptyFolder(layout.Root);
            }
        }

        var password = Secrets.NewPassword();
        await recipe.InitializeAsync(layout, password, timeout, ct).ConfigureAwait(false);
        return password;
    }

    /// <summary>Why the pristine folder must not be used: the data of every server made from it, and its admin password,
    /// come from there, so the folders and the password file must be this user's and not writable by others, and the password
    /// file readable by nobody else.</summary>
    private static Task<string?> WhyUntrustedAsync(string cacheRoot, string folder, CancellationToken ct) =>
        FolderTrust.WhyUntrustedAsync([(cacheRoot, FolderTrust.OthersWrite), (folder, FolderTrust.OthersWrite), (Path.Combine(folder, "password"), FolderTrust.OthersAnything)], ct);

    private static void EmptyFolder(string path)
    {
        try
        {
            foreach (var entry in new DirectoryInfo(path).EnumerateFileSystemInfos())
            {
                if (entry is DirectoryInfo dir)
                {
                    dir.Delete(recursive: true);
                }
                else
                {
                    entry.Delete();
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The slow path's own initialisation says what is wrong with the folder.
        }
    }

    /// <summary>Initialises a pristine folder aside and moves it into place; a process that got there first wins and
    /// this one's is deleted. The password file comes last: a folder without it is incomplete and never used.</summary>
    private static async Task BuildAsync(LocalRecipe recipe, string cacheRoot, string folder, TimeSpan timeout, CancellationToken ct)
    {
        var traversable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        Directory.CreateDirectory(cacheRoot, traversable); // the server's OS user passes through to initialise its folder
        SweepAbandoned(cacheRoot);
        var aside = Path.Combine(cacheRoot, $"building-{Secrets.NewId()}");
        try
        {
            Directory.CreateDirectory(aside, traversable);
            var layout = new LocalLayout(Path.Combine(aside, "layout"));
            Directory.CreateDirectory(layout.Root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            LocalServer.GiveTo(layout.Root, recipe.RunAs);
            var password = Secrets.NewPassword();
            await recipe.InitializeAsync(layout, password, timeout, ct).ConfigureAwait(false);
            FolderTrust.WritePrivate(Path.Combine(aside, "password"), password); // 0600 from its first byte
            try
            {
                Directory.Move(aside, folder);
            }
            catch (IOException) when (File.Exists(Path.Combine(folder, "password")))
            {
                // Another process made it meanwhile: use that one.
            }
            catch (IOException)
            {
                // An incomplete folder of a process that died while moving it: replace it.
                Directory.Delete(folder, recursive: true);
                Directory.Move(aside, folder);
            }
        }
        finally
        {
            if (Directory.Exists(aside))
            {
                Directory.Delete(aside, recursive: true);
            }
        }
    }

    /// <summary>Removes folders that processes killed while initialising left behind (no initialisation takes an hour).</summary>
    private static void SweepAbandoned(string cacheRoot)
    {
        foreach (var dir in Directory.GetDirectories(cacheRoot, "building-*"))
        {
            try
            {
                if (Directory.GetCreationTimeUtc(dir) < DateTime.UtcNow.AddHours(-1))
                {
                    Directory.Delete(dir, recursive: true);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another process removes it, or a later one.
            }
        }
    }

    /// <summary>Copies a folder's contents, owners and modes kept (the server's OS user owns its data folder).</summary>
    private static ProcessStartInfo Copy(string from, string to)
    {
        var psi = new ProcessStartInfo("cp") { UseShellExecute = false };
        foreach (var arg in new[] { "-a", from + "/.", to })
        {
            psi.ArgumentList.Add(arg);
        }

        return psi;
    }

    /// <summary>Raise when a recipe's initialisation changes within one kit version, so older folders are not used.</summary>
    private const int InitVersion = 1;

    /// <summary>The binaries and the way they initialise a folder: another version or recipe (or kit version) gets a
    /// folder of its own.</summary>
    internal static string KeyOf(LocalRecipe recipe)
    {
        var identity = new StringBuilder()
            .Append(typeof(PristineDataFolders).Assembly.GetName().Version).Append('|').Append(InitVersion).Append('|')
            .Append(recipe.GetType().FullName).Append('|')
            .Append(recipe.Description).Append('|')
            .Append(recipe.RunAs).Append('|');
        var binary = new FileInfo(recipe.ServerCommand(new LocalLayout("/tdk"), 0, new Dictionary<string, string>())[0]);
        identity.Append(binary.FullName).Append(':').Append(binary.Exists ? binary.Length : -1).Append(':')
            .Append(binary.Exists ? binary.LastWriteTimeUtc.Ticks : 0);

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity.ToString())))[..16];
    }
}
