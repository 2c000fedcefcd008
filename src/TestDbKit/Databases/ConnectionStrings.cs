using System.Data.Common;

namespace TestDbKit.Databases;

/// <summary>Applies a user's <see cref="TestDbOptions.ConnectionString"/> to a connection string through the
/// driver's own builder, found from the driver's connection (its provider factory), so no engine is named here.</summary>
internal static class ConnectionStrings
{
    /// <summary>Runs <paramref name="shape"/> on the driver's builder holding <paramref name="connectionString"/>.</summary>
    /// <param name="connection">An unopened connection of the driver (disposed here).</param>
    /// <param name="connectionString">The string to shape; it holds a password, which no message repeats.</param>
    /// <param name="shape">The user's callback.</param>
    /// <param name="engineName">The engine's name, for the message.</param>
    /// <exception cref="InvalidOperationException">The callback threw (an unknown keyword, a bad value).</exception>
    public static string Shape(DbConnection connection, string connectionString, Action<DbConnectionStringBuilder> shape, string engineName)
    {
        DbConnectionStringBuilder builder;
        using (connection)
        {
            builder = DbProviderFactories.GetFactory(connection)?.CreateConnectionStringBuilder() ?? new DbConnectionStringBuilder();
        }

        builder.ConnectionString = connectionString;
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
