using System.Data.Common;
using System.Runtime.Versioning;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Configurations;
using DotNet.Testcontainers.Containers;
using Microsoft.Extensions.Logging;
using TestDbKit.Servers;

namespace TestDbKit.Engines;

/// <summary>
/// Everything one engine supplies to the kit, found through <see cref="EngineRegistry"/>: its dialect (driver,
/// connection strings, errors, SQL), how to find and run its local binaries, its container, the server tuning
/// both share, the driver's pool metrics, what the server is (<see cref="ServerFlavour"/>), and the names users
/// see (CLI key, environment variables). A new engine is one folder with one subclass, plus one line in the
/// registry; <c>EngineRegistryTests</c> proves each registered engine supplies every part.
/// </summary>
internal abstract class EngineModule
{
    /// <summary>The engine's driver, connection strings, error classification and SQL.</summary>
    public abstract EngineDialect Dialect { get; }

    public DbEngine Engine => Dialect.Engine;

    /// <summary>Human name for messages.</summary>
    public string Name => Dialect.Name;

    /// <summary>Short lower-case name: the CLI's <c>--engine</c> value, and the stem of the variable names.</summary>
    public string Key => Dialect.Key;

    /// <summary>The External provider's connection string (<c>TESTDBKIT_POSTGRES</c>, <c>TESTDBKIT_MYSQL</c>).</summary>
    public string ConnectionVariable => "TESTDBKIT_" + Key.ToUpperInvariant();

    /// <summary>The Docker provider's image (<c>TESTDBKIT_POSTGRES_IMAGE</c>, ...).</summary>
    public string ImageVariable => ConnectionVariable + "_IMAGE";

    /// <summary>The Local provider's folder of server binaries (<c>TESTDBKIT_POSTGRES_BIN</c>, ...).</summary>
    public string BinVariable => ConnectionVariable + "_BIN";

    /// <summary>The Local provider's OS user to run the server as when the tests run as root, for an engine that
    /// refuses to run as root (<c>TESTDBKIT_POSTGRES_OS_USER</c>); null where the engine needs none.</summary>
    public virtual string? OsUserVariable => null;

    /// <summary>Local: the variable that picks one of the engine's server flavours when several are installed
    /// (<c>TESTDBKIT_MYSQL_FLAVOUR</c>: mariadb or mysql), or null for an engine with one flavour.</summary>
    public virtual string? FlavourVariable => null;

    /// <summary>The image the Docker provider runs when none is named.</summary>
    public abstract string DefaultImage { get; }

    /// <summary>The port the server listens on inside its container.</summary>
    public abstract int ContainerPort { get; }

    /// <summary>The administrator the kit connects as (Local and Docker).</summary>
    public abstract string AdminUser { get; }

    /// <summary>
    /// Settings that make a throwaway server fast without losing a commit a client was told about (a crash
    /// fault must still find every one): the one list both the Local recipe and the container start with,
    /// in the engine's own parameter names. Users' <see cref="DbServerOptions.Settings"/> come after and win.
    /// </summary>
    public abstract IReadOnlyList<KeyValuePair<string, string>> ServerTuning { get; }

    /// <summary>Server settings as the server's command line takes them (<c>-c name=value</c>, <c>--name=value</c>).</summary>
    public abstract IEnumerable<string> SettingArguments(IEnumerable<KeyValuePair<string, string>> settings);

    /// <summary>The container for <paramref name="request"/>, built but not started.</summary>
    public abstract IContainer BuildContainer(ContainerRequest request);

    /// <summary>Finds this engine's server binaries, or says where it looked and how to install them.</summary>
    [UnsupportedOSPlatform("windows")]
    public abstract LocalRecipe LocateLocal(Options.Sourced? binDirectory, Options.Sourced? flavour);

    /// <summary>How the driver reports the connections its pools have handed out.</summary>
    public abstract DriverPoolMetrics PoolMetrics { get; }

    /// <summary>The server setting that ends idle sessions, and the error a client then meets, for advice.</summary>
    public abstract (string Setting, string LostError) IdleTimeoutAdvice { get; }

    /// <summary>What the server behind <paramref name="connection"/> is and can do; asked of the server once per
    /// server and remembered.</summary>
    public abstract Task<ServerFlavour> FlavourOfAsync(DbConnection connection, CancellationToken ct);
}

/// <summary>What a container needs besides the engine's own parts.</summary>
/// <param name="Image">The image to run.</param>
/// <param name="Password">The administrator's password.</param>
/// <param name="HostPort">The loopback port the server's port is published on.</param>
/// <param name="Settings">The users' server settings, after the engine's tuning.</param>
/// <param name="PullPolicy">When Testcontainers pulls the image.</param>
/// <param name="Labels">Labels that let a later run find the container.</param>
/// <param name="Logger">Where Testcontainers' own messages go.</param>
/// <param name="Entrypoint">The image's own entrypoint, which then runs under the kit's supervisor with the data
/// folder in memory (<see cref="Supervisor"/>); null keeps the image's entrypoint as PID 1 and the data on the
/// container's disk (an image not on this machine yet cannot be asked for it).</param>
/// <param name="ImageEnvironment">The image's environment (<c>NAME=value</c>), where an engine's entrypoint finds
/// its data folder (PostgreSQL's <c>PGDATA</c>).</param>
internal sealed record ContainerRequest(
    string Image,
    string Password,
    int HostPort,
    IReadOnlyDictionary<string, string> Settings,
    Func<Docker.DotNet.Models.ImageInspectResponse, bool> PullPolicy,
    IReadOnlyDictionary<string, string> Labels,
    ILogger Logger,
    IReadOnlyList<string>? Entrypoint = null,
    IReadOnlyList<string>? ImageEnvironment = null)
{
    /// <summary>Where the supervisor notes the server's process id, for the faults.</summary>
    public const string ServerPidFile = "/tmp/testdbkit-server.pid";

    /// <summary>Made by a fault just before it stops the server: the supervisor starts the server again only then.</summary>
    public const string AgainFile = "/tmp/testdbkit-again";

    /// <summary>
    /// PID 1 of a supervised container (POSIX sh; its arguments are the image's entrypoint and the server's).
    /// Why: the data folder is a tmpfs, because the container's own file system makes every fsync cost
    /// milliseconds (MariaDB syncs at each DDL, the reset's counter restarts included), and Docker empties a tmpfs
    /// whenever the container stops. So the crash and restart faults stop the server inside the container, and this
    /// loop starts it again on the same data. A server that ends for any other reason (a bad setting at the start)
    /// ends the container with its exit code, as without the supervisor; a signal to PID 1 (docker stop) goes on to
    /// the server. A crash kills every process at once, and the old server's children (now PID 1's) may still be
    /// exiting when the server itself is gone; PostgreSQL refuses to start while one of them still holds its shared
    /// memory ("pre-existing shared memory block is still in use"), which would end the container. So the loop starts
    /// the server again only once no child of PID 1 is left alive (at most 10 s; the wait goes to the container's log).
    /// </summary>
    public const string Supervisor = $$"""
        stopping=
        trap 'stopping=1; kill -TERM "$server" 2>/dev/null' TERM
        trap 'stopping=1; kill -INT "$server" 2>/dev/null' INT
        orphans() {
          for s in /proc/[0-9]*/status; do
            [ "$s" = /proc/1/status ] && continue
            state=; ppid=
            while read -r key value rest; do
              case $key in State:) state=$value ;; PPid:) ppid=$value ;; esac
            done 2>/dev/null < "$s"
            [ "$ppid" = 1 ] && [ -n "$state" ] && [ "$state" != Z ] && return 0
          done
          return 1
        }
        while :; do
          "$@" &
          server=$!
          [ -z "$stopping" ] || kill -TERM "$server"
          echo "$server" > {{ServerPidFile}}
          code=
          while [ -z "$code" ]; do wait "$server"; status=$?; kill -0 "$server" 2>/dev/null || code=$status; done
          if [ -n "$stopping" ] || [ ! -e {{AgainFile}} ]; then exit "$code"; fi
          n=0
          while [ $n -lt 200 ] && [ -z "$stopping" ] && orphans; do n=$((n+1)); sleep 0.05; done
          if [ -n "$stopping" ]; then exit "$code"; fi
          if [ $n -ge 200 ]; then echo "testdbkit-supervisor: a process of the old server still runs after 10 s; starting the server anyway" >&2
          elif [ $n -gt 0 ]; then echo "testdbkit-supervisor: waited $((n * 50)) ms for the old server's processes to end" >&2; fi
          rm -f {{AgainFile}}
        done
        """;

    /// <summary>The value of <paramref name="name"/> in the image's environment, else <paramref name="fallback"/>.</summary>
    public string ImageVariable(string name, string fallback) =>
        ImageEnvironment?.FirstOrDefault(e => e.StartsWith(name + "=", StringComparison.Ordinal))?[(name.Length + 1)..] is { Length: > 0 } value
            ? value
            : fallback;

    /// <summary>The parts every engine's container shares: pull policy, labels, logger, port, the server's arguments,
    /// and, where the image's entrypoint is known, the supervisor and the data folder in memory.</summary>
    public TBuilder Apply<TBuilder, TContainer, TConfiguration>(
        ContainerBuilder<TBuilder, TContainer, TConfiguration> builder, int containerPort, string dataDirectory, IEnumerable<string> serverArguments)
        where TBuilder : ContainerBuilder<TBuilder, TContainer, TConfiguration>
        where TContainer : IContainer
        where TConfiguration : IContainerConfiguration
    {
        var built = builder
            .WithImagePullPolicy(PullPolicy)
            .WithLabel(Labels)
            .WithLogger(Logger) // Testcontainers' own chatter goes where the kit's log goes, not to the console
            .WithPortBinding(HostPort, containerPort)
            .WithCommand([.. serverArguments]);
        return Entrypoint is null
            ? built
            : built.WithEntrypoint(["/bin/sh", "-c", Supervisor, "testdbkit-supervisor", .. Entrypoint]).WithTmpfsMount(dataDirectory);
    }
}
