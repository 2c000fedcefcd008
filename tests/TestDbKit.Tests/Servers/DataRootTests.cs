using System.Diagnostics;

namespace TestDbKit.Tests.Servers;

/// <summary>A data folder the server cannot write to: read-only or full. Root can write anywhere, so these
/// mount a small tmpfs; a non-root run uses file modes (read-only) or skips (full) and says why.</summary>
public sealed class DataRootTests
{
    [SkippableTheory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_read_only_data_root_is_a_clear_error(DbEngine engine)
    {
        using var root = await ScratchFolder.CreateAsync(readOnly: true, sizeKb: 1024);
        var e = await Assert.ThrowsAsync<DbServerException>(() =>
            DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local, DataRoot = root.Path }));
        Assert.Contains(root.Path, e.Message, StringComparison.Ordinal);
        Assert.Contains("TESTDBKIT_DATA_ROOT", e.Message, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_full_data_root_is_a_clear_error_and_is_left_empty(DbEngine engine)
    {
        Skip.IfNot(TestSupport.IsRoot, "making a full file system needs root (mount -t tmpfs)");
        using var root = await ScratchFolder.CreateAsync(readOnly: false, sizeKb: 2048);
        var e = await Assert.ThrowsAsync<DbServerException>(() =>
            DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local, DataRoot = root.Path }));
        Assert.Contains("full", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("TESTDBKIT_DATA_ROOT", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetDirectories(root.Path));
    }

    private sealed class ScratchFolder : IDisposable
    {
        private readonly bool _mounted;

        private ScratchFolder(string path, bool mounted)
        {
            Path = path;
            _mounted = mounted;
        }

        public string Path { get; }

        public static async Task<ScratchFolder> CreateAsync(bool readOnly, int sizeKb)
        {
            var path = Directory.CreateTempSubdirectory("tdk-root-").FullName;
            if (!TestSupport.IsRoot)
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserExecute);
                return new ScratchFolder(path, mounted: false);
            }

            var options = $"size={sizeKb}k,mode=0755" + (readOnly ? ",ro" : "");
            var (code, output) = await RunAsync("mount", "-t", "tmpfs", "-o", options, "tmpfs", path);
            Skip.If(code != 0, $"cannot mount a tmpfs here: {output}");
            return new ScratchFolder(path, mounted: true);
        }

        public void Dispose()
        {
            if (_mounted)
            {
                RunAsync("umount", Path).GetAwaiter().GetResult();
            }
            else
            {
                File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }

            Directory.Delete(Path, recursive: true);
        }

        private static async Task<(int Code, string Output)> RunAsync(string file, params string[] args)
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in args)
            {
                psi.ArgumentList.Add(a);
            }

            using var p = Process.Start(psi)!;
            var output = await p.StandardError.ReadToEndAsync() + await p.StandardOutput.ReadToEndAsync();
            await p.WaitForExitAsync();
            return (p.ExitCode, output);
        }
    }
}
