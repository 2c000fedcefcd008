using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;

namespace TestDbKit.Servers.Reuse;

// SchemaCodeHash, part: what the schema code reads besides its code (field values, resources, files).
internal static partial class SchemaCodeHash
{
    /// <summary>
    /// The data the walked code reads, hashed as it is now. The hash is computed when the pool is made: after the hook's
    /// target (the test class instance, a lambda's closure) exists and before the hook runs, so the values are those the
    /// hook will read, unless code run in between (the hook itself) changes them.
    /// </summary>
    private sealed class SchemaValues(Walk walk, HashSet<Assembly> own, object? target, bool filesNamed)
    {
        private const int MaxDepth = 6; // own objects are followed this deep; deeper, the value is not known
        private const int MaxValues = 100_000; // keeps the hash cheap; more, the value is not known
        private const int MaxFolderFiles = 1_000; // a folder read by a literal path, hashed whole up to this
        private const long MaxFolderBytes = 64L * 1024 * 1024;

        // What writes a file (a log of the hook's) does not shape the schema; what it reads (or tests: Exists) does.
        private static readonly string[] WriteVerbs = ["Write", "Append", "Delete", "Create", "Move", "Copy", "Replace", "Set", "Encrypt", "Decrypt"];

        private static readonly HashSet<Type> FileTypes = [typeof(File), typeof(FileInfo), typeof(FileStream), typeof(StreamReader), typeof(Directory), typeof(DirectoryInfo)];

        private readonly List<object> _instances = Closure(target);
        private readonly HashSet<FieldInfo> _read = [];
        private readonly SortedSet<string> _files = new(StringComparer.Ordinal);
        private readonly List<(int Offset, int Pops, int Pushes, string? Literal)> _instructions = [];
        private readonly HashSet<int> _targets = [];
        private readonly List<(int Start, int Call, string? Path, string Where)> _fileCalls = [];
        private MethodBase? _method;
        private bool _readsValues;
        private int _count;

        /// <summary>The hook's target and the closures and test class instance it holds.</summary>
        public IReadOnlyList<object> Instances => _instances;

        /// <summary>Why the hash cannot know what the code reads (the template is then not kept), or null.</summary>
        public string? Unknowable { get; private set; }

        public SchemaValues StartMethod(MethodBase method, bool readsValues)
        {
            _method = method;
            _readsValues = readsValues;
            _instructions.Clear();
            _targets.Clear();
            _fileCalls.Clear();
            return this;
        }

        public void BranchTo(int offset) => _targets.Add(offset);

        /// <summary>A field the code loads: an own static one counts by its value, one of the hook's target (or of the
        /// closures and test class instance it holds) by the value it has there.</summary>
        public void Field(OpCode op, FieldInfo field)
        {
            if ((op == OpCodes.Ldsfld || op == OpCodes.Ldsflda) && _readsValues)
            {
                // Compiler-made holders are skipped: lambda caches (their code is walked; a cached delegate appears
                // once the lambda first ran) and array data (named by a hash of its bytes, which the IL names).
                if (!field.IsStatic || field.IsLiteral || !own.Contains(field.Module.Assembly)
                    || field.DeclaringType is not { } declaring || IsCompilerMade(declaring) || !_read.Add(field))
                {
                    return;
                }

                if (declaring.ContainsGenericParameters)
                {
                    NotKnown(field, "a static field of an open generic type has no one value");
                    return;
                }

                object? value;
                try
                {
                    // Reading it runs the type's static constructor if it has not run yet: the hook is about to run
                    // the same code. Only for a type the walk reaches but the hook never calls is that early; a
                    // constructor that throws makes the value unknown here, not the run fail.
                    value = field.GetValue(null);
                }
                catch (Exception e) when (e is TargetInvocationException or TypeInitializationException or FieldAccessException)
                {
                    NotKnown(field, $"reading it threw {(e.InnerException ?? e).GetType().Name}");
                    return;
                }

                Hash(field, value);
            }
            else if ((op == OpCodes.Ldfld || op == OpCodes.Ldflda) && !field.IsStatic && field.DeclaringType is { } declaring && _read.Add(field))
            {
                foreach (var instance in _instances.Where(declaring.IsInstanceOfType))
                {
                    var value = field.GetValue(instance);
                    if (value is not null && _instances.Any(i => ReferenceEquals(i, value)))
                    {
                        continue; // a closure's test class or outer closure: its fields count where they are read
                    }

                    Hash(field, value);
                }
            }
        }

        /// <summary>One decoded instruction, for the stack arithmetic that finds a file call's literal path.</summary>
        public void Instruction(int offset, OpCode op, string? literal, MethodBase? callee)
        {
            var (pops, pushes) = Stack(op, callee);
            _instructions.Add((offset, pops, pushes, literal));
            if (!_readsValues || op.FlowControl != FlowControl.Call || callee?.DeclaringType is not { } type || !FileTypes.Contains(type)
                || WriteVerbs.Any(v => callee.Name.StartsWith(v, StringComparison.Ordinal)) || (!callee.IsStatic && !callee.IsConstructor)
                || callee.GetParameters() is not [{ ParameterType: var first }, ..] parameters || first != typeof(string))
            {
                return;
            }

            // Back from the call, the instruction that pushed its first argument; a literal path only if it is an ldstr.
            var slots = parameters.Length;
            for (var k = _instructions.Count - 2; k >= 0; k--)
            {
                var (at, p, q, text) = _instructions[k];
                if (p < 0 || q < 0)
                {
                    break;
                }

                if (q >= slots)
                {
                    // It pushed the first argument: a path only when it pushed that alone, from nothing (ldstr).
                    _fileCalls.Add((at, offset, slots == 1 && p == 0 && q == 1 ? text : null, Walk.Name(callee)));
                    return;
                }

                slots += p - q;
            }

            _fileCalls.Add((offset, offset, null, Walk.Name(callee)));
        }

        public void EndMethod()
        {
            // A method that lists a folder by a literal path reads what it found there (foreach over Directory.GetFiles("sql")
            // and File.ReadAllText of each): its reads by computed paths are taken for that folder's files, hashed whole.
            var listsFolder = false;
            foreach (var (start, call, path, _) in _fileCalls)
            {
                // A branch into the stretch between the literal and the call (a ?: between two paths) makes it unsure.
                if (path is not null && !_targets.Any(t => t > start && t <= call))
                {
                    var full = System.IO.Path.GetFullPath(path);
                    _files.Add(full);
                    listsFolder |= Directory.Exists(full);
                }
            }

            foreach (var (start, call, path, where) in _fileCalls)
            {
                if ((path is null || _targets.Any(t => t > start && t <= call)) && !filesNamed && !listsFolder)
                {
                    Unknowable ??= $"{where} in {Walk.Name(_method!)} reads a file by a path computed at run time, which the schema code's " +
                        "hash cannot know; the template is not kept. Name the files (or their folder) in DatabasePoolOptions.SchemaFiles: " +
                        "their contents then join the hash.";
                }
            }
        }

        /// <summary>Every embedded resource of the own assemblies, and the files read by a literal path or named by the
        /// user. All resources count, not only those read by a call the walk sees: libraries read them too
        /// (DbUp's <c>WithScriptsEmbeddedInAssembly</c>), and hashing them costs little next to building a template.</summary>
        public void AddResourcesAndFiles(IReadOnlyList<string> named)
        {
            foreach (var assembly in own.Where(a => !a.IsDynamic).OrderBy(a => a.FullName, StringComparer.Ordinal))
            {
                foreach (var name in assembly.GetManifestResourceNames().Order(StringComparer.Ordinal))
                {
                    using var stream = assembly.GetManifestResourceStream(name);
                    walk.Add("resource:" + assembly.GetName().Name + ":" + name + ":" + (stream is null ? "none" : Convert.ToHexStringLower(SHA256.HashData(stream))));
                }
            }

            foreach (var (path, literal) in _files.Select(f => (f, true)).Concat(named.Select(f => (System.IO.Path.GetFullPath(f), false))))
            {
                try
                {
                    if (literal && Directory.Exists(path) && Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Take(MaxFolderFiles + 1)
                        .Select(f => new FileInfo(f).Length).ToList() is var sizes && (sizes.Count > MaxFolderFiles || sizes.Sum() > MaxFolderBytes))
                    {
                        // Directory.GetFiles(".") would hash the whole output folder, the test assembly with it.
                        if (!filesNamed)
                        {
                            Unknowable ??= $"the schema code reads the folder {path}, too large to hash (over {MaxFolderFiles} files or " +
                                $"{MaxFolderBytes / 1024 / 1024} MB); the template is not kept. Name the files it reads in DatabasePoolOptions.SchemaFiles.";
                        }

                        continue;
                    }

                    AddFile(path);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Unknowable ??= $"the schema reads {path}, which could not be read for its hash ({e.Message}); the template is not kept.";
                }
            }
        }

        private void AddFile(string path)
        {
            if (Directory.Exists(path))
            {
                foreach (var file in Directory.GetFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                {
                    walk.Add("file:" + file + ":" + FileHash(file));
                }
            }
            else
            {
                walk.Add("file:" + path + ":" + (File.Exists(path) ? FileHash(path) : "missing"));
            }
        }

        private static string FileHash(string path)
        {
            // FIFOs and devices report no length, and reading one would block or never end; an empty file has nothing to hash.
            if (new FileInfo(path).Length == 0)
            {
                return "empty";
            }

            using var stream = File.OpenRead(path);
            return Convert.ToHexStringLower(SHA256.HashData(stream));
        }

        private void Hash(FieldInfo field, object? value)
        {
            var text = new StringBuilder("value:").Append(field.DeclaringType?.FullName).Append("::").Append(field.Name).Append('=');
            if (Value(text, value, 0, new Dictionary<object, int>(ReferenceEqualityComparer.Instance)) is { } why)
            {
                NotKnown(field, why);
                return;
            }

            walk.Add(text.ToString());
        }

        /// <summary>Appends <paramref name="value"/> as text: data by its contents; own objects and structs by their
        /// fields; collections by their items; a delegate by its method (walked) and target; another library's object by
        /// its type only (a logger, a lock, a data source: their state is not the schema's). Returns why not, if not.</summary>
        private string? Value(StringBuilder text, object? value, int depth, Dictionary<object, int> seen)
        {
            if (++_count > MaxValues)
            {
                return $"it holds more than {MaxValues} values";
            }

            switch (value)
            {
                case null:
                    text.Append("null");
                    return null;
                case string s:
                    text.Append(s.Length).Append(':').Append(s);
                    return null;
                case byte[] bytes:
                    text.Append("bytes:").Append(Convert.ToHexStringLower(SHA256.HashData(bytes)));
                    return null;
                case Enum or bool or char or sbyte or byte or short or ushort or int or uint or long or ulong or float or double or decimal:
                    text.Append(value.GetType().FullName).Append(':').Append(Convert.ToString(value, CultureInfo.InvariantCulture));
                    return null;
                case Type type:
                    walk.Touch(type);
                    text.Append("type:").Append(type.FullName);
                    return null;
            }

            var kind = value.GetType();
            if (!kind.IsValueType)
            {
                if (seen.TryGetValue(value, out var index))
                {
                    text.Append("ref#").Append(index);
                    return null;
                }

                seen.Add(value, seen.Count);
            }

            if (depth >= MaxDepth)
            {
                return $"it is more than {MaxDepth} objects deep";
            }

            if (value is Delegate callback)
            {
                foreach (var one in callback.GetInvocationList())
                {
                    walk.Follow(one.Method);
                    text.Append("delegate:").Append(Walk.Name(one.Method)).Append('@');
                    if (Value(text, one.Target, depth + 1, seen) is { } why)
                    {
                        return why;
                    }
                }

                return null;
            }

            if (value is IEnumerable items && (kind.IsArray || (!kind.IsValueType && !own.Contains(kind.Assembly) && IsCollection(kind))))
            {
                var texts = new List<string>();
                foreach (var item in items)
                {
                    var one = new StringBuilder();
                    if (Value(one, item, depth + 1, seen) is { } why)
                    {
                        return why;
                    }

                    texts.Add(one.ToString());
                }

                if (value is IDictionary || kind.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(ISet<>)))
                {
                    texts.Sort(StringComparer.Ordinal); // its order is the hash codes', which change between runs
                }

                text.Append(kind.FullName).Append('[');
                foreach (var one in texts)
                {
                    text.Append(one.Length).Append(':').Append(one).Append(',');
                }

                text.Append(']');
                return null;
            }

            if (!kind.IsValueType && !own.Contains(kind.Assembly))
            {
                walk.Foreign(kind.Assembly);
                text.Append("object:").Append(kind.FullName);
                return null;
            }

            text.Append(kind.FullName).Append('{');
            for (var type = kind; type is not null && (type.IsValueType || own.Contains(type.Assembly)); type = type.BaseType)
            {
                foreach (var field in type.GetFields(BindingFlags.DeclaredOnly | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
                {
                    text.Append(field.Name).Append('=');
                    if (Value(text, field.GetValue(value), depth + 1, seen) is { } why)
                    {
                        return why;
                    }

                    text.Append(';');
                }
            }

            text.Append('}');
            return null;
        }

        private void NotKnown(FieldInfo field, string why) =>
            Unknowable ??= $"the schema code reads {field.DeclaringType?.FullName}.{field.Name}, whose value its hash cannot know ({why}); " +
                "the template is not kept (the server still is). Keep what shapes the schema in constants, strings, arrays, lists or " +
                $"small objects of your own (at most {MaxDepth} deep).";

        /// <summary>The hook's target and what it holds of the test class: a closure's outer closures and its <c>this</c>.</summary>
        private static List<object> Closure(object? target)
        {
            var found = new List<object>();
            var open = new Stack<object>();
            if (target is not null)
            {
                open.Push(target);
            }

            while (open.TryPop(out var next))
            {
                if (found.Any(f => ReferenceEquals(f, next)))
                {
                    continue;
                }

                found.Add(next);
                if (!IsCompilerMade(next.GetType()))
                {
                    continue;
                }

                foreach (var field in next.GetType().GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
                {
                    if (field.GetValue(next) is { } held && (IsCompilerMade(held.GetType()) || field.Name.EndsWith("__this", StringComparison.Ordinal)))
                    {
                        open.Push(held);
                    }
                }
            }

            return found;
        }

        public static bool IsCompilerMade(Type type) => type.IsDefined(typeof(CompilerGeneratedAttribute), inherit: false);

        private static bool IsCollection(Type type) =>
            typeof(ICollection).IsAssignableFrom(type) || type.GetInterfaces().Any(i => i.IsGenericType
                && (i.GetGenericTypeDefinition() == typeof(ICollection<>) || i.GetGenericTypeDefinition() == typeof(IReadOnlyCollection<>)));

        /// <summary>How many values <paramref name="op"/> takes off the stack and puts on it; -1 when it depends on more
        /// than the instruction (calli, leave).</summary>
        private static (int Pops, int Pushes) Stack(OpCode op, MethodBase? callee)
        {
            if (op.StackBehaviourPop == StackBehaviour.Varpop || op.StackBehaviourPush == StackBehaviour.Varpush)
            {
                if (callee is null)
                {
                    return (-1, -1);
                }

                var pops = callee.GetParameters().Length + (callee.IsStatic || op == OpCodes.Newobj ? 0 : 1);
                var pushes = op == OpCodes.Newobj || callee is MethodInfo { ReturnType: var r } && r != typeof(void) ? 1 : 0;
                return (pops, pushes);
            }

            var pop = op.StackBehaviourPop.ToString();
            var push = op.StackBehaviourPush.ToString();
            return (pop is "PopAll" ? -1 : pop is "Pop0" ? 0 : pop.Split('_').Length,
                push is "Push0" ? 0 : push.Split('_').Length);
        }
    }
}
