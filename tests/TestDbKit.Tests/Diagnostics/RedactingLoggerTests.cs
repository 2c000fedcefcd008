using Microsoft.Extensions.Logging;
using TestDbKit.Diagnostics;

namespace TestDbKit.Tests.Diagnostics;

/// <summary>What the kit hands a library that may log a secret it was given (Testcontainers logs the commands it
/// runs in a container): the secret never reaches the user's log, in the message or in the exception.</summary>
public sealed class RedactingLoggerTests
{
    [Fact]
    public void The_secret_is_replaced_in_messages_and_exceptions()
    {
        using var logs = new LogCollector();
        const string secret = "s3cretPassw0rd";
        ILogger logger = new RedactingLogger(logs.CreateLogger("lib"), secret);

        logger.Log(LogLevel.Information, default, $"Execute \"mysql --password={secret} -e 'SELECT 1'\"", null, (m, _) => m);
        logger.Log(LogLevel.Warning, default, "probe failed", new InvalidOperationException($"login failed with {secret}"), (m, _) => m);

        Assert.Equal(2, logs.Entries.Count); // the premise: both reached the user's log
        Assert.Equal("Execute \"mysql --password=*** -e 'SELECT 1'\"", logs.Entries[0].Message);
        Assert.All(logs.Entries, e => Assert.DoesNotContain(secret, e.Message, StringComparison.Ordinal));
        Assert.Contains("login failed with ***", logs.Entries[1].Error!.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(secret, logs.Entries[1].Error!.ToString(), StringComparison.Ordinal);
    }
}
