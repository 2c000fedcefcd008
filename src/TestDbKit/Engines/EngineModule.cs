using System.Data.Common;
using System.Runtime.Versioning;
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
internal sealed record ContainerRequest(
    string Image,
    string Password,
    int HostPort,
    IReadOnlyDictionary<string, string> Settings,
    Func<Docker.DotNet.Models.ImageInspectResponse, bool> PullPolicy,
    IReadOnlyDictionary<string, string> Labels,
    ILogger Logger);
