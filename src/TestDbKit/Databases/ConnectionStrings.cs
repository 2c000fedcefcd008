using System.Data.Common;

namespace TestDbKit.Databases;

/// <summary>Applies a user's <see cref="TestDbOptions.ConnectionString"/> to a connection string through the
/// driver's own builder (the dialect's), so keywords and value types are the driver's.</summary>
internal static class ConnectionStrings
{
    /// <summary>Runs <paramref name="shape"/> on <paramref name="builder"/> and gives the string it then holds.</summary>
    /// <param name="builder">The driver's builder holding the string to shape; it holds a password, which no message repeats.</param>
    /// <param name="shape">The user's callback.</param>
    /// <param name="engineName">The engine's name, for the message.</param>
    /// <exception cref="InvalidOperationException">The callback threw (an unknown keyword, a bad value).</exception>
    public static string Shape(DbConnectionStringBuilder builder, Action<DbConnectionStringBuilder> shape, string engineName)
    {
        try
        {
            shape(builder);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException or NotSupportedException or KeyNotFoundException)
        {
            throw new InvalidOperationException(
                $"The connection-string callback (TestDbOptions.ConnectionString) failed on the {engineName} driver's {builder.GetType().Name}: " +
                $"{e.GetType().Name}: {e.Message}. Use that driver's keywords and value types.", e);
        }

        return builder.ConnectionString;
    }
}
