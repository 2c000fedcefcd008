using System.Data.Common;
using System.Diagnostics;
using System.Net.Sockets;

namespace TestDbKit.Tests.Common;

/// <summary>A test's premise or expectation did not hold. Thrown by the shared helpers, which serve xunit
/// and NUnit alike, so they cannot use either framework's assertions.</summary>
public sealed class ExpectationException(string message) : Exception(message);

/// <summary>Precise expectations shared by every test project: the exact failure a fault must cause, and
/// polls for what another session or process makes true.</summary>
public static class Expect
{
    /// <summary>Fails with <paramref name="failure"/> unless <paramref name="condition"/> holds.</summary>
    public static void That(bool condition, string failure)
    {
        if (!condition)
        {
            throw new ExpectationException(failure);
        }
    }

    /// <summary>Runs <paramref name="action"/>, which must fail with a <typeparamref name="T"/>; returns it.
    /// Any other outcome (success, or another exception such as <see cref="ObjectDisposedException"/>) fails.</summary>
    public static async Task<T> FailsAsync<T>(Func<Task> action, string what)
        where T : Exception
    {
        try
        {
            await action();
        }
        catch (T e)
        {
            return e;
        }
        catch (Exception e)
        {
            throw new ExpectationException($"{what}: expected a {typeof(T).Name}, saw {e.GetType().Name}: {e.Message}");
        }

        throw new ExpectationException($"{what}: expected a {typeof(T).Name}, but it succeeded");
    }

    /// <summary>Runs <paramref name="action"/>, which must fail because the session is gone: a driver error
    /// (<see cref="DbException"/>) or a transport one (<see cref="IOException"/>, <see cref="SocketException"/>,
    /// which MySqlConnector lets through), classified by <see cref="DbErrors.IsConnectionLost"/> and transient.</summary>
    public static async Task<Exception> ConnectionLostAsync(Func<Task> action, string what)
    {
        Exception? error = null;
        try
        {
            await action();
        }
        catch (Exception e) when (e is DbException or IOException or SocketException)
        {
            error = e;
        }
        catch (Exception e)
        {
            throw new ExpectationException($"{what}: expected a lost connection, saw {e.GetType().Name}: {e.Message}");
        }

        That(error is not null, $"{what}: expected a lost connection, but the command succeeded");
        That(DbErrors.IsConnectionLost(error!) && DbErrors.IsTransient(error!),
            $"{what}: expected an error DbErrors classifies as a lost connection (transient), saw {error!.GetType().Name}: {error.Message}");
        return error!;
    }

    /// <summary>Polls <paramref name="condition"/> every <paramref name="every"/> (default 50 ms) until it holds;
    /// fails after <paramref name="within"/> with <paramref name="what"/>.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, TimeSpan within, string what, TimeSpan? every = null)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            That(clock.Elapsed < within, $"Not within {within.TotalSeconds} s: {what}");
            await Task.Delay(every ?? TimeSpan.FromMilliseconds(50));
        }
    }
}
