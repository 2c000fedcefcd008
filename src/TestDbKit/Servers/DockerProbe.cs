using System.Net.Sockets;

namespace TestDbKit.Servers;

/// <summary>Asks the Docker engine's <c>/_ping</c> whether it answers, quickly and without Testcontainers' retries.</summary>
internal static class DockerProbe
{
    /// <summary>The endpoint clients use: <c>DOCKER_HOST</c>, else the default socket.</summary>
    public static string Endpoint =>
        Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } host ? host : "unix:///var/run/docker.sock";

    /// <summary>An HTTP client for the Docker engine's API, or null with the reason it cannot be made.</summary>
    public static (HttpClient? Client, string? Why) CreateClient(string? endpoint = null)
    {
        endpoint ??= Endpoint;
        var handler = new SocketsHttpHandler();
        Uri baseAddress;
        if (endpoint.StartsWith("unix://", StringComparison.Ordinal))
        {
            var path = endpoint["unix://".Length..];
            if (!File.Exists(path))
            {
                handler.Dispose();
                return (null, $"no Docker socket at {path}");
            }

            handler.ConnectCallback = async (_, token) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), token).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
            baseAddress = new Uri("http://docker");
        }
        else if (endpoint.StartsWith("tcp://", StringComparison.Ordinal))
        {
            baseAddress = new Uri("http://" + endpoint["tcp://".Length..]);
        }
        else
        {
            handler.Dispose();
            return (null, $"DOCKER_HOST={endpoint} is not a unix:// or tcp:// address the kit can probe");
        }

        return (new HttpClient(handler, disposeHandler: true) { BaseAddress = baseAddress }, null);
    }

    /// <summary>Null when the engine answers; otherwise why not.</summary>
    public static async Task<string?> WhyUnavailableAsync(string? endpoint = null, CancellationToken ct = default)
    {
        endpoint ??= Endpoint;
        var (created, why) = CreateClient(endpoint);
        if (created is null)
        {
            return why;
        }

        using var client = created;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(3));
        try
        {
            using var response = await client.GetAsync(new Uri("/_ping", UriKind.Relative), timeout.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode ? null : $"the Docker engine at {endpoint} answered {(int)response.StatusCode}";
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return $"the Docker engine at {endpoint} did not answer within 3 s";
        }
        catch (Exception e) when (e is HttpRequestException or SocketException or IOException)
        {
            return $"the Docker engine at {endpoint} did not answer ({e.GetBaseException().Message})";
        }
    }
}
