using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace TestDbKit.Servers.Reuse;

/// <summary>
/// A hash of the code that builds a schema, so a kept template is used only by the schema code that built it. It covers
/// the hook's IL and, transitively, the IL of what it calls in the hook's own assemblies (the test class's and the
/// hook method's), async and iterator state machines and lambdas included; every own type it touches otherwise (a
/// DbContext it creates, an entity type it names) with all its members, since frameworks call into those (EF Core's
/// <c>OnModelCreating</c>); the module version id (MVID, new at every compile) of every other non-framework assembly it
/// reaches (migrations in an assembly of their own, the drivers); and the caller's shape (pool options, engine, the
/// kit's version). Metadata tokens are hashed as the members they name, so unrelated code added to the assembly does
/// not change the hash. The test class's other methods (the tests) are not part of it: editing a test keeps the template.
/// Besides code, it covers what the code reads (<c>SchemaValues</c>): the current values of the own static
/// fields the walked IL loads, of the fields it loads from the hook's target (the test class instance, a lambda's
/// captured variables), every embedded resource of the own assemblies, and the bytes of files read by a literal path
/// or named in <c>DatabasePoolOptions.SchemaFiles</c>.
/// Code reached only by reflection (EF Core's migrations discovered in the test assembly itself) is not seen: change
/// the hook, or restart the kept server (<c>TESTDBKIT_REUSE=0</c> once), after changing such code alone.
/// </summary>
internal static partial class SchemaCodeHash
{
    private const BindingFlags Declared = BindingFlags.DeclaredOnly | BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic;

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    private static readonly string RuntimeDirectory = RuntimeEnvironment.GetRuntimeDirectory();

    /// <summary>The hash of <paramref name="hook"/> (null: no schema), <paramref name="shape"/> and the contents of
    /// <paramref name="files"/> (files or folders), or null with <paramref name="why"/> when part of the code, or of
    /// what it reads, cannot be known (the template is then not kept).</summary>
    public static string? Of(Delegate? hook, string shape, out string? why, IReadOnlyList<string>? files = null)
    {
        while (hook is { Target: Delegate inner } && hook.Method.Name == "Invoke")
        {
            hook = inner; // a delegate made from a delegate: the code is the inner one's
        }

        Walk walk;
        try
        {
            walk = new Walk(hook, filesNamed: files is { Count: > 0 });
            walk.Add("shape:" + shape);
            var kit = typeof(SchemaCodeHash).Assembly;
            walk.Add("kit:" + kit.GetName().Version + ":" + kit.ManifestModule.ModuleVersionId);
            if (hook is not null)
            {
                walk.Run(hook.Method);
            }

            walk.Values.AddResourcesAndFiles(files ?? []);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Reading values runs user and library code: whatever it throws costs only the kept template, never the pool.
            why = $"the schema code could not be read ({e.GetType().Name}: {e.Message})";
            return null;
        }

        why = walk.Values.Unknowable;
        return why is null ? walk.Finish() : null;
    }

    private sealed class Walk
    {
        private readonly HashSet<Assembly> _own = [];
        private readonly List<Type> _hookTypes = []; // the test class and its bases: only reached methods count
        private readonly Type? _target;
        private readonly HashSet<MethodBase> _seen = [];
        private readonly HashSet<MethodBase> _called = []; // reached by a call (or ldftn) from the hook, not only as a member of a type
        private readonly HashSet<MethodBase> _valuesRead = [];
        private readonly HashSet<Type> _types = [];
        private readonly SortedSet<string> _foreign = new(StringComparer.Ordinal);
        private readonly Queue<MethodBase> _queue = new();
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public Walk(Delegate? hook, bool filesNamed)
        {
            Values = new SchemaValues(this, _own, hook?.Target, filesNamed);
            if (hook is null)
            {
                return;
            }

            _own.Add(hook.Method.Module.Assembly);

            // The target, and the test class instance a lambda's closure holds: their other methods (the tests) do not count.
            _target = (Values.Instances.FirstOrDefault(i => !SchemaValues.IsCompilerMade(i.GetType())) ?? hook.Target)?.GetType();
            foreach (var instance in Values.Instances)
            {
                for (var type = instance.GetType(); type is not null && type != typeof(object); type = type.BaseType)
                {
                    _hookTypes.Add(type);
                    if (!IsFramework(type.Assembly))
                    {
                        _own.Add(type.Assembly);
                    }
                }
            }

            if (hook.Method.DeclaringType is { } declaring)
            {
                _hookTypes.Add(declaring);
            }
        }

        public SchemaValues Values { get; }

        public void Add(string text) => _hash.AppendData(Encoding.UTF8.GetBytes(text + "\n"));

        public void Run(MethodBase start)
        {
            _called.Add(start);
            _queue.Enqueue(start);
            while (_queue.TryDequeue(out var method))
            {
                Visit(method);
            }
        }

        public string Finish()
        {
            foreach (var foreign in _foreign)
            {
                Add("uses:" + foreign);
            }

            return Convert.ToHexStringLower(_hash.GetHashAndReset())[..24];
        }

        private void Visit(MethodBase method)
        {
            // Static values count where the hook can read them: in what it calls, and in what a framework calls on a type
            // it touches (constructors, overrides: OnModelCreating), and in what those call. Not in the type's other
            // static methods or what they call, nor in handlers its type initializer registers on events (they run
            // later, at exit), nor in a state machine whose method nothing reached: a helper type's clock or counters
            // would change the hash in every run. A method first seen as a member only is walked again once a call to
            // it is seen.
            var readsValues = _called.Contains(method) || method is ConstructorInfo // type initializers too (IsConstructor is not)
                || (method.IsVirtual && method.DeclaringType is { } owner && !SchemaValues.IsCompilerMade(owner));
            if (!_seen.Add(method) && (!readsValues || !_valuesRead.Add(method)))
            {
                return;
            }

            if (readsValues)
            {
                _valuesRead.Add(method);
            }

            Add("method:" + Name(method));
            if (method.DeclaringType is { } declaring)
            {
                Touch(declaring);
            }

            foreach (var attribute in new[] { typeof(AsyncStateMachineAttribute), typeof(IteratorStateMachineAttribute), typeof(AsyncIteratorStateMachineAttribute) })
            {
                if (method.GetCustomAttribute(attribute) is StateMachineAttribute machine)
                {
                    Touch(machine.StateMachineType, whole: true);
                    if (readsValues)
                    {
                        // The method's body is its state machine's: reached with it (walked again if seen as members).
                        foreach (var step in machine.StateMachineType.GetMethods(Declared))
                        {
                            if (_called.Add(step))
                            {
                                _queue.Enqueue(step);
                            }
                        }
                    }
                }
            }

            if (method.GetMethodBody() is not { } body)
            {
                return;
            }

            foreach (var local in body.LocalVariables)
            {
                Add("local:" + local.LocalType.FullName);
            }

            Il(method, body.GetILAsByteArray() ?? []);
        }

        private void Il(MethodBase method, byte[] il)
        {
            var module = method.Module;
            var typeArgs = method.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
            var methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
            var text = new StringBuilder();
            var readsValues = _valuesRead.Contains(method);
            var reads = Values.StartMethod(method, readsValues);
            // A delegate a type initializer makes is followed at the call it goes to: one given to an event's add
            // accessor (AppDomain.ProcessExit) is a handler that runs later, not code the hook runs.
            var initializer = method is ConstructorInfo { IsStatic: true };
            MethodBase? handler = null;
            for (var i = 0; i < il.Length;)
            {
                var offset = i;
                short value = il[i++];
                if (value == 0xFE)
                {
                    value = unchecked((short)(0xFE00 | il[i++]));
                }

                var op = OpCodesByValue[value];
                text.Append(op.Name).Append(' ');
                string? literal = null;
                MethodBase? callee = null;
                switch (op.OperandType)
                {
                    case OperandType.InlineNone:
                        break;
                    case OperandType.ShortInlineBrTarget:
                        text.Append(il[i]);
                        reads.BranchTo(i + 1 + unchecked((sbyte)il[i]));
                        i += 1;
                        break;
                    case OperandType.InlineBrTarget:
                        text.Append(BitConverter.ToInt32(il, i));
                        reads.BranchTo(i + 4 + BitConverter.ToInt32(il, i));
                        i += 4;
                        break;
                    case OperandType.ShortInlineI or OperandType.ShortInlineVar:
                        text.Append(il[i]);
                        i += 1;
                        break;
                    case OperandType.InlineVar:
                        text.Append(BitConverter.ToInt16(il, i));
                        i += 2;
                        break;
                    case OperandType.InlineI8 or OperandType.InlineR:
                        text.Append(BitConverter.ToInt64(il, i));
                        i += 8;
                        break;
                    case OperandType.InlineSwitch:
                        var count = BitConverter.ToInt32(il, i);
                        text.Append(Convert.ToHexString(il, i, 4 + (4 * count)));
                        for (var k = 0; k < count; k++)
                        {
                            reads.BranchTo(i + 4 + (4 * count) + BitConverter.ToInt32(il, i + 4 + (4 * k)));
                        }

                        i += 4 + (4 * count);
                        break;
                    case OperandType.InlineString:
                        literal = module.ResolveString(BitConverter.ToInt32(il, i));
                        text.Append('"').Append(literal).Append('"');
                        i += 4;
                        break;
                    case OperandType.InlineMethod:
                        var called = module.ResolveMethod(BitConverter.ToInt32(il, i), typeArgs, methodArgs)!;
                        text.Append(Name(called));
                        if (initializer && (op == OpCodes.Ldftn || op == OpCodes.Ldvirtftn))
                        {
                            if (handler is not null)
                            {
                                Follow(handler, reached: readsValues);
                            }

                            handler = called;
                        }
                        else
                        {
                            if (handler is not null && !(called is ConstructorInfo && called.DeclaringType?.IsSubclassOf(typeof(Delegate)) == true))
                            {
                                Follow(handler, reached: readsValues && !(called.IsSpecialName && called.Name.StartsWith("add_", StringComparison.Ordinal)));
                                handler = null;
                            }

                            Follow(called, reached: readsValues);
                        }

                        callee = called;
                        i += 4;
                        break;
                    case OperandType.InlineField:
                        var field = module.ResolveField(BitConverter.ToInt32(il, i), typeArgs, methodArgs)!;
                        text.Append(field.DeclaringType?.FullName).Append("::").Append(field.Name);
                        Touch(field.DeclaringType);
                        reads.Field(op, field);
                        i += 4;
                        break;
                    case OperandType.InlineType or OperandType.InlineTok:
                        var member = module.ResolveMember(BitConverter.ToInt32(il, i), typeArgs, methodArgs);
                        text.Append(member is Type type ? type.FullName : member?.DeclaringType?.FullName + "::" + member?.Name);
                        Touch(member as Type ?? member?.DeclaringType);
                        i += 4;
                        break;
                    case OperandType.InlineSig:
                        text.Append(Convert.ToHexString(module.ResolveSignature(BitConverter.ToInt32(il, i))));
                        i += 4;
                        break;
                    default: // InlineI, ShortInlineR
                        text.Append(BitConverter.ToInt32(il, i));
                        i += 4;
                        break;
                }

                text.Append(';');
                reads.Instruction(offset, op, literal, callee);
            }

            if (handler is not null)
            {
                Follow(handler, reached: readsValues);
            }

            reads.EndMethod();
            Add(text.ToString());
        }

        /// <summary>A called method: its body when it is the hook's own code (a virtual one as the test class overrides
        /// it), else its assembly's identity. <paramref name="reached"/>: the call is in code the hook runs (its values
        /// count there too), not in a method walked only as a member of a type it touches.</summary>
        public void Follow(MethodBase called, bool reached = true)
        {
            if (called is MethodInfo { IsVirtual: true } virtualMethod && _target is not null
                && called.DeclaringType is { } declaring && declaring.IsAssignableFrom(_target))
            {
                called = Override(virtualMethod) ?? called;
            }

            if (called.IsGenericMethod)
            {
                foreach (var argument in called.GetGenericArguments())
                {
                    Touch(argument);
                }
            }

            if (called.DeclaringType is { IsGenericType: true } generic)
            {
                foreach (var argument in generic.GetGenericArguments())
                {
                    Touch(argument);
                }
            }

            var assembly = called.Module.Assembly;
            if (_own.Contains(assembly))
            {
                called = called is MethodInfo { IsGenericMethod: true } g && !g.IsGenericMethodDefinition ? g.GetGenericMethodDefinition() : called;
                if (reached)
                {
                    _called.Add(called);
                }

                _queue.Enqueue(called);
            }
            else
            {
                Foreign(assembly);
            }
        }

        private MethodInfo? Override(MethodInfo method)
        {
            var definition = method.GetBaseDefinition();
            for (var type = _target; type is not null; type = type.BaseType)
            {
                if (type.GetMethods(Declared).FirstOrDefault(m => m.GetBaseDefinition() == definition) is { } found)
                {
                    return found;
                }
            }

            return null;
        }

        /// <summary>A type the code touches: one of the hook's own (other than the test class and its bases) counts whole,
        /// members and all; another non-framework assembly's counts by that assembly's identity.</summary>
        public void Touch(Type? type, bool whole = false)
        {
            while (type is { HasElementType: true })
            {
                type = type.GetElementType();
            }

            if (type is null || type.IsGenericParameter || !_types.Add(type))
            {
                return;
            }

            if (type.IsGenericType && !type.IsGenericTypeDefinition)
            {
                foreach (var argument in type.GetGenericArguments())
                {
                    Touch(argument);
                }

                Touch(type.GetGenericTypeDefinition(), whole);
                return;
            }

            if (!_own.Contains(type.Assembly))
            {
                Foreign(type.Assembly);
                return;
            }

            if (!whole && (_hookTypes.Contains(type) || IsClosureOf(type)))
            {
                return; // the tests' own code: only what the hook reaches counts
            }

            Add("type:" + type.FullName + ":" + type.BaseType?.FullName + ":" + string.Join(",", type.GetInterfaces().Select(i => i.FullName)));
            Touch(type.BaseType);
            foreach (var field in type.GetFields(Declared))
            {
                Add("field:" + field.FieldType.FullName + " " + field.Name);
                Touch(field.FieldType);
            }

            foreach (var property in type.GetProperties(Declared))
            {
                Add("property:" + property.PropertyType.FullName + " " + property.Name + " " +
                    string.Join(",", property.GetCustomAttributesData().Select(a => a.ToString())));
                Touch(property.PropertyType);
            }

            Add("attributes:" + string.Join(",", type.GetCustomAttributesData().Select(a => a.ToString())));
            foreach (var member in type.GetMethods(Declared).Cast<MethodBase>().Concat(type.GetConstructors(Declared)))
            {
                _queue.Enqueue(member);
            }

            foreach (var nested in type.GetNestedTypes(BindingFlags.Public | BindingFlags.NonPublic))
            {
                Touch(nested, whole: true); // closures and state machines of its methods
            }
        }

        /// <summary>A compiler-made type (lambdas' closures) nested in the test class: it holds the tests' lambdas too.</summary>
        private bool IsClosureOf(Type type) =>
            type.IsDefined(typeof(CompilerGeneratedAttribute)) && type.DeclaringType is { } outer && (_hookTypes.Contains(outer) || IsClosureOf(outer));

        public void Foreign(Assembly assembly)
        {
            if (assembly.IsDynamic || !IsFramework(assembly))
            {
                _foreign.Add(assembly.GetName().Name + ":" + assembly.ManifestModule.ModuleVersionId);
            }
        }

        private static bool IsFramework(Assembly assembly) =>
            assembly.Location is { Length: > 0 } location && location.StartsWith(RuntimeDirectory, StringComparison.Ordinal);

        public static string Name(MethodBase method) => method.DeclaringType?.FullName + "::" + method;
    }
}
