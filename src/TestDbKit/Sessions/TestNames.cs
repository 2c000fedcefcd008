namespace TestDbKit.Sessions;

/// <summary>
/// The name by which leak reports and the run report know a test: <c>Namespace.Class.Method</c>, followed by the
/// arguments a framework shows in the test's display name (<c>(how: 3)</c>). Frameworks hand over their parts
/// differently, and a display name may be shortened by configuration (xunit's <c>methodDisplay=method</c>) or
/// replaced by the author (<c>DisplayName = "..."</c>); this puts the parts together the same way for every adapter.
/// </summary>
internal static class TestNames
{
    /// <summary>The full name of a test.</summary>
    /// <param name="className">The test class's full name.</param>
    /// <param name="methodName">The test method's name, or null when the framework does not say.</param>
    /// <param name="displayName">The framework's display name for the test, or null.</param>
    /// <returns><paramref name="displayName"/> when it already starts with the class and method; otherwise the
    /// class and method, with the display name's argument list when it has one; the class alone when nothing
    /// more is known.</returns>
    public static string Full(string className, string? methodName, string? displayName)
    {
        ArgumentException.ThrowIfNullOrEmpty(className);
        if (string.IsNullOrEmpty(methodName))
        {
            return string.IsNullOrEmpty(displayName) ? className : displayName;
        }

        var method = $"{className}.{methodName}";
        if (string.IsNullOrEmpty(displayName))
        {
            return method;
        }

        if (displayName.StartsWith(method, StringComparison.Ordinal)
            && (displayName.Length == method.Length || displayName[method.Length] is '(' or '<' or ' '))
        {
            return displayName;
        }

        var arguments = displayName.IndexOf('(', StringComparison.Ordinal);
        return arguments >= 0 && displayName.EndsWith(')') ? method + displayName[arguments..] : method;
    }
}
