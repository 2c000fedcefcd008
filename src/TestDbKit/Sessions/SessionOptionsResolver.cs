using System.Collections.Concurrent;
using System.Data.Common;
using System.Reflection;

namespace TestDbKit.Sessions;

/// <summary>
/// Turns a test of a test class into <see cref="SessionOptions"/>: what every adapter's base class does before a
/// test, in one place. It finds the class's schema owner and server scope, and resolves the class's
/// <see cref="TestDbOptions"/> in layers: defaults, the assembly's <see cref="TestDbConfigurationAttribute"/>,
/// the base constructor's isolation, the class's own <c>Configure</c>. (Variables fill in later, where each
/// option is used: see <see cref="Options.KitEnvironment"/>.)
/// </summary>
internal static class SessionOptionsResolver
{
    private static readonly ConcurrentDictionary<Assembly, ITestDbConfiguration?> AssemblyConfigurations = new();

    /// <summary>Options for a test of <paramref name="testClass"/>. Test classes that inherit the same
    /// <c>CreateSchemaAsync</c> (whichever of its two overloads a class overrode, see <see cref="SchemaOwner"/>)
    /// share a schema, and so a template and a pool, as long as their pool options match; a class marked
    /// <see cref="DedicatedServerAttribute"/> gets pools on a server of its own.</summary>
    /// <param name="testClass">The test class.</param>
    /// <param name="testName">The test's full name, for reports.</param>
    /// <param name="engine">The engine from the base constructor.</param>
    /// <param name="isolation">The isolation from the base constructor.</param>
    /// <param name="configure">The class's <c>Configure</c> override.</param>
    /// <param name="createSchema">The class's <c>CreateSchemaAsync(SchemaTarget, CancellationToken)</c> (whose
    /// default runs its <c>CreateSchemaAsync(DbConnection)</c>).</param>
    /// <param name="resetBefore">Whether a <c>[ResetConnection]</c> applies before the test.</param>
    /// <param name="output">The test's output in its framework, or null.</param>
    /// <exception cref="InvalidOperationException">The assembly names a configuration the kit cannot use, or a
    /// <c>Configure</c> threw; the message says which and why.</exception>
    public static SessionOptions For(
        Type testClass,
        string testName,
        DbEngine engine,
        IsolationMode isolation,
        Action<TestDbOptions> configure,
        Func<SchemaTarget, CancellationToken, Task> createSchema,
        bool resetBefore,
        TestOutput? output)
    {
        var options = Resolve(testClass, engine, isolation, configure);
        var scope = new PoolScope(SchemaOwner(testClass), DedicatedServerAttribute.AppliesTo(testClass) ? testClass : null);
        return new SessionOptions(testName, engine, createSchema, scope, options.Isolation, resetBefore, FailOnConnectionLeakAttribute.AppliesTo(testClass))
        {
            Server = options.ToServerOptions(),
            Pool = options.ToPoolOptions(),
            ShapeConnectionString = options.ConnectionString,
            Output = output,
        };
    }

    /// <summary>The class whose <c>CreateSchemaAsync</c> builds <paramref name="testClass"/>'s schema: the most
    /// derived class declaring either overload, <c>(DbConnection)</c> or <c>(SchemaTarget, CancellationToken)</c>.
    /// The base class's default of the second calls the first, so whichever a class overrode, classes that share
    /// the method's declaring class share the schema; a class that overrides the other overload below that one has a
    /// schema of its own.</summary>
    internal static Type SchemaOwner(Type testClass)
    {
        const BindingFlags Flags = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
        var onConnection = testClass.GetMethod("CreateSchemaAsync", Flags, [typeof(DbConnection)])?.DeclaringType;
        var onTarget = testClass.GetMethod("CreateSchemaAsync", Flags, [typeof(SchemaTarget), typeof(CancellationToken)])?.DeclaringType;
        return (onConnection, onTarget) switch
        {
            (null, null) => testClass,
            ({ } a, null) => a,
            (null, { } b) => b,
            ({ } a, { } b) => a.IsSubclassOf(b) ? a : b,
        };
    }

    /// <summary>The class's options: defaults, then the assembly's configuration, then the constructor's
    /// isolation (when not the default), then the class's <paramref name="configure"/>.</summary>
    public static TestDbOptions Resolve(Type testClass, DbEngine engine, IsolationMode isolation, Action<TestDbOptions> configure)
    {
        var options = new TestDbOptions(engine);
        if (ForAssembly(testClass.Assembly) is { } assemblyConfiguration)
        {
            Run(() => assemblyConfiguration.Configure(options), $"{assemblyConfiguration.GetType().FullName}.Configure (the assembly's [TestDbConfiguration])");
        }

        // The constructor's default cannot be told from an omitted argument: only another mode overrides the assembly's.
        if (isolation != IsolationMode.Reset)
        {
            options.Isolation = isolation;
        }

        Run(() => configure(options), $"{testClass.FullName}.Configure");
        return options;
    }

    /// <summary>The configuration the assembly names, made once per assembly; null when it names none.</summary>
    private static ITestDbConfiguration? ForAssembly(Assembly assembly) => AssemblyConfigurations.GetOrAdd(assembly, a =>
    {
        if (a.GetCustomAttribute<TestDbConfigurationAttribute>() is not { } attribute)
        {
            return null;
        }

        var type = attribute.ConfigurationType;
        if (type is null || !typeof(ITestDbConfiguration).IsAssignableFrom(type) || type.IsAbstract || type.GetConstructor(Type.EmptyTypes) is null)
        {
            throw new InvalidOperationException(
                $"[assembly: TestDbConfiguration(typeof({type?.FullName ?? "null"}))] in {a.GetName().Name}: the type must be a non-abstract class " +
                $"implementing {nameof(ITestDbConfiguration)} with a public parameterless constructor.");
        }

        return (ITestDbConfiguration)Activator.CreateInstance(type)!;
    });

    private static void Run(Action configure, string what)
    {
        try
        {
            configure();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidOperationException($"{what} threw {e.GetType().Name}: {e.Message}. Fix it: no test of the class can start.", e);
        }
    }
}
