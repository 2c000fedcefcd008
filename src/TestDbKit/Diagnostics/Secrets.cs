using System.Security.Cryptography;

namespace TestDbKit.Diagnostics;

/// <summary>Generated passwords, and the guard that keeps any password out of messages.</summary>
internal static class Secrets
{
    private const string Alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

    public static string NewPassword() => RandomNumberGenerator.GetString(Alphabet, 24);

    /// <summary>A short random suffix for names of folders, databases and containers.</summary>
    public static string NewId(int length = 8) => RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyz0123456789", length);

    /// <summary>Replaces every occurrence of <paramref name="secret"/> in <paramref name="text"/>.</summary>
    public static string Redact(string text, string? secret) =>
        string.IsNullOrEmpty(secret) || secret.Length < 3 ? text : text.Replace(secret, "***", StringComparison.Ordinal);
}
