using System.Reflection;
using System.Runtime.InteropServices;
using System.Xml.Linq;
using Hyperlxd.Interop.Libvirt;

namespace Hyperlxd.Tests.Interop;

/// <summary>
/// Every [LibraryImport] of the binding's <c>Native</c> class against libvirt's own API description
/// (libvirt-api.xml, libvirt-qemu-api.xml from libvirt-dev): the function exists in the library it is
/// imported from, with the return and argument types C says (pointer width and signedness included;
/// callbacks compared argument by argument with their typedef); the mirrored enums, constants and
/// structs have libvirt's values and layouts.
/// </summary>
public sealed class LibvirtSignatureTests
{
    private const string ApiDir = "/usr/share/libvirt/api";

    private static readonly Lazy<Api> Libvirt = new(() => new Api(Path.Combine(ApiDir, "libvirt-api.xml")));
    private static readonly Lazy<Api> LibvirtQemu = new(() => new Api(Path.Combine(ApiDir, "libvirt-qemu-api.xml"), Libvirt.Value));

    private static readonly Type NativeType = typeof(LibvirtConnection).Assembly.GetType("Hyperlxd.Interop.Libvirt.Native", throwOnError: true)!;

    // Callback arguments that C declares as a generic type and libvirt documents to be cast from a specific one.
    private static readonly Dictionary<(string Function, string Arg), string> CallbackAs = new()
    {
        // VIR_DOMAIN_EVENT_CALLBACK(cb): for VIR_DOMAIN_EVENT_ID_LIFECYCLE, the only id the binding registers.
        [("virConnectDomainEventRegisterAny", "cb")] = "virConnectDomainEventCallback",
    };

    private static IEnumerable<(MethodInfo Method, LibraryImportAttribute Import)> Imports() =>
        NativeType.GetMethods(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public)
            .Select(m => (m, m.GetCustomAttribute<LibraryImportAttribute>()))
            .Where(x => x.Item2 != null)
            .Select(x => (x.m, x.Item2!));

    [Fact]
    public void Every_import_matches_libvirt_api_xml_and_resolves_in_its_library()
    {
        var imports = Imports().ToList();
        Assert.True(imports.Count >= 40, $"only {imports.Count} imports found");
        var failures = new List<string>();
        var libraries = new Dictionary<string, nint>();
        try
        {
            foreach (var (method, import) in imports)
            {
                var name = import.EntryPoint ?? method.Name;
                var api = import.LibraryName switch
                {
                    "libvirt.so.0" => Libvirt.Value,
                    "libvirt-qemu.so.0" => LibvirtQemu.Value,
                    var other => null,
                };
                if (api == null)
                {
                    failures.Add($"{name}: unexpected library {import.LibraryName}");
                    continue;
                }
                if (!libraries.TryGetValue(import.LibraryName, out var lib))
                {
                    lib = libraries[import.LibraryName] = NativeLibrary.Load(import.LibraryName);
                }
                if (!NativeLibrary.TryGetExport(lib, name, out _))
                {
                    failures.Add($"{name}: no such symbol in {import.LibraryName}");
                }
                if (!api.Functions.TryGetValue(name, out var c))
                {
                    failures.Add($"{name}: not a function of {import.LibraryName}'s API description");
                    continue;
                }
                var parameters = method.GetParameters();
                if (parameters.Length != c.Args.Count)
                {
                    failures.Add($"{name}: {parameters.Length} parameters, C has {c.Args.Count}");
                    continue;
                }
                Compare(api, name, "return", c.Return, method.ReturnType, failures);
                for (var i = 0; i < parameters.Length; i++)
                {
                    var (argName, argType) = c.Args[i];
                    if (CallbackAs.TryGetValue((name, argName), out var asType))
                    {
                        argType = asType;
                    }
                    Compare(api, name, argName, argType, parameters[i].ParameterType, failures);
                }
            }
        }
        finally
        {
            foreach (var lib in libraries.Values)
            {
                NativeLibrary.Free(lib);
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void The_mirrored_enums_and_constants_have_libvirts_values()
    {
        var table = new (Enum Member, string[] C)[]
        {
            (DomainState.NoState, ["VIR_DOMAIN_NOSTATE"]),
            (DomainState.Running, ["VIR_DOMAIN_RUNNING"]),
            (DomainState.Blocked, ["VIR_DOMAIN_BLOCKED"]),
            (DomainState.Paused, ["VIR_DOMAIN_PAUSED"]),
            (DomainState.Shutdown, ["VIR_DOMAIN_SHUTDOWN"]),
            (DomainState.Shutoff, ["VIR_DOMAIN_SHUTOFF"]),
            (DomainState.Crashed, ["VIR_DOMAIN_CRASHED"]),
            (DomainState.PMSuspended, ["VIR_DOMAIN_PMSUSPENDED"]),
            (DomainCreateFlags.None, ["VIR_DOMAIN_NONE"]),
            (DomainCreateFlags.Paused, ["VIR_DOMAIN_START_PAUSED"]),
            (DomainCreateFlags.AutoDestroy, ["VIR_DOMAIN_START_AUTODESTROY"]),
            (DomainCreateFlags.BypassCache, ["VIR_DOMAIN_START_BYPASS_CACHE"]),
            (DomainCreateFlags.ForceBoot, ["VIR_DOMAIN_START_FORCE_BOOT"]),
            (DomainCreateFlags.Validate, ["VIR_DOMAIN_START_VALIDATE"]),
            (DomainCreateFlags.ResetNvram, ["VIR_DOMAIN_START_RESET_NVRAM"]),
            (DomainUndefineFlags.None, []),
            (DomainUndefineFlags.ManagedSave, ["VIR_DOMAIN_UNDEFINE_MANAGED_SAVE"]),
            (DomainUndefineFlags.SnapshotsMetadata, ["VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA"]),
            (DomainUndefineFlags.Nvram, ["VIR_DOMAIN_UNDEFINE_NVRAM"]),
            (DomainUndefineFlags.KeepNvram, ["VIR_DOMAIN_UNDEFINE_KEEP_NVRAM"]),
            (DomainUndefineFlags.CheckpointsMetadata, ["VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA"]),
            (DomainUndefineFlags.Tpm, ["VIR_DOMAIN_UNDEFINE_TPM"]),
            (DomainUndefineFlags.KeepTpm, ["VIR_DOMAIN_UNDEFINE_KEEP_TPM"]),
            (DomainXmlFlags.None, []),
            (DomainXmlFlags.Secure, ["VIR_DOMAIN_XML_SECURE"]),
            (DomainXmlFlags.Inactive, ["VIR_DOMAIN_XML_INACTIVE"]),
            (DomainXmlFlags.UpdateCpu, ["VIR_DOMAIN_XML_UPDATE_CPU"]),
            (DomainXmlFlags.Migratable, ["VIR_DOMAIN_XML_MIGRATABLE"]),
            (DomainModificationImpact.Current, ["VIR_DOMAIN_AFFECT_CURRENT"]),
            (DomainModificationImpact.Live, ["VIR_DOMAIN_AFFECT_LIVE", "VIR_DOMAIN_VCPU_LIVE", "VIR_DOMAIN_MEM_LIVE"]),
            (DomainModificationImpact.Config, ["VIR_DOMAIN_AFFECT_CONFIG", "VIR_DOMAIN_VCPU_CONFIG", "VIR_DOMAIN_MEM_CONFIG"]),
            (DomainModificationImpact.Maximum, ["VIR_DOMAIN_VCPU_MAXIMUM", "VIR_DOMAIN_MEM_MAXIMUM"]),
            (DomainConsoleFlags.None, []),
            (DomainConsoleFlags.Force, ["VIR_DOMAIN_CONSOLE_FORCE"]),
            (DomainConsoleFlags.Safe, ["VIR_DOMAIN_CONSOLE_SAFE"]),
            (DomainEventType.Defined, ["VIR_DOMAIN_EVENT_DEFINED"]),
            (DomainEventType.Undefined, ["VIR_DOMAIN_EVENT_UNDEFINED"]),
            (DomainEventType.Started, ["VIR_DOMAIN_EVENT_STARTED"]),
            (DomainEventType.Suspended, ["VIR_DOMAIN_EVENT_SUSPENDED"]),
            (DomainEventType.Resumed, ["VIR_DOMAIN_EVENT_RESUMED"]),
            (DomainEventType.Stopped, ["VIR_DOMAIN_EVENT_STOPPED"]),
            (DomainEventType.Shutdown, ["VIR_DOMAIN_EVENT_SHUTDOWN"]),
            (DomainEventType.PMSuspended, ["VIR_DOMAIN_EVENT_PMSUSPENDED"]),
            (DomainEventType.Crashed, ["VIR_DOMAIN_EVENT_CRASHED"]),
        };
        var api = Libvirt.Value;
        var failures = new List<string>();
        foreach (var (member, names) in table)
        {
            foreach (var c in names)
            {
                if (api.EnumValue(c) != Convert.ToInt64(member))
                {
                    failures.Add($"{member.GetType().Name}.{member} = {Convert.ToInt64(member)}, {c} = {api.EnumValue(c)}");
                }
            }
        }
        // Every member of the mirrored enums is in the table.
        foreach (var type in table.Select(t => t.Member.GetType()).Distinct())
        {
            foreach (Enum value in Enum.GetValues(type))
            {
                if (!table.Any(t => t.Member.Equals(value)))
                {
                    failures.Add($"{type.Name}.{value} is not checked");
                }
            }
        }
        // The Native class's VIR_* constants, and the exception's error numbers.
        foreach (var field in NativeType.GetFields(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public).Where(f => f.IsLiteral && f.Name.StartsWith("VIR_", StringComparison.Ordinal)))
        {
            if (api.EnumValue(field.Name) != Convert.ToInt64(field.GetRawConstantValue()))
            {
                failures.Add($"Native.{field.Name} = {field.GetRawConstantValue()}, libvirt says {api.EnumValue(field.Name)}");
            }
        }
        foreach (var (value, c) in new[]
        {
            (LibvirtException.NoDomain, "VIR_ERR_NO_DOMAIN"),
            (LibvirtException.OperationInvalid, "VIR_ERR_OPERATION_INVALID"),
            (LibvirtException.OperationTimeout, "VIR_ERR_OPERATION_TIMEOUT"),
            (LibvirtException.AgentUnresponsive, "VIR_ERR_AGENT_UNRESPONSIVE"),
            (LibvirtException.AgentUnsynced, "VIR_ERR_AGENT_UNSYNCED"),
        })
        {
            if (api.EnumValue(c) != value)
            {
                failures.Add($"LibvirtException {c}: {value} vs {api.EnumValue(c)}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [InlineData("virDomainInfo", "DomainInfoNative", false)]
    [InlineData("virDomainInterfaceStatsStruct", "InterfaceStatsNative", false)]
    [InlineData("virDomainBlockStatsStruct", "BlockStatsNative", false)]
    [InlineData("virDomainMemoryStatStruct", "MemoryStatNative", false)]
    [InlineData("virError", "ErrorNative", true)]
    public void The_mirrored_structs_have_the_C_layout(string cStruct, string managed, bool headOnly)
    {
        var type = NativeType.GetNestedType(managed, BindingFlags.NonPublic | BindingFlags.Public)!;
        var fields = type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic).OrderBy(f => Marshal.OffsetOf(type, f.Name)).ToList();
        var c = Libvirt.Value.Structs[cStruct];
        Assert.True(headOnly ? fields.Count <= c.Count : fields.Count == c.Count, $"{managed}: {fields.Count} fields, C has {c.Count}");
        var offset = 0;
        var align = 1;
        for (var i = 0; i < fields.Count; i++)
        {
            var size = CSize(c[i].Type);
            offset = (offset + size - 1) / size * size;
            align = Math.Max(align, size);
            Assert.Equal(offset, (int)Marshal.OffsetOf(type, fields[i].Name));
            Assert.Equal(size, Marshal.SizeOf(fields[i].FieldType.IsPointer ? typeof(nint) : fields[i].FieldType));
            offset += size;
        }
        if (!headOnly)
        {
            Assert.Equal((offset + align - 1) / align * align, Marshal.SizeOf(type));
        }
    }

    // x86_64 (LP64) sizes, which are also the alignments.
    private static int CSize(string cType) => cType switch
    {
        "unsigned char" => 1,
        "unsigned short" => 2,
        "int" or "unsigned int" => 4,
        "unsigned long" or "long long" or "unsigned long long" => 8,
        _ when cType.EndsWith('*') => 8,
        _ => throw new InvalidOperationException("no size for " + cType),
    };

    private static void Compare(Api api, string function, string what, string cType, Type managed, List<string> failures)
    {
        if (managed.IsFunctionPointer)
        {
            var typedef = cType.Trim();
            if (!api.FuncTypes.TryGetValue(typedef, out var fn) && !Libvirt.Value.FuncTypes.TryGetValue(typedef, out fn))
            {
                failures.Add($"{function} {what}: a function pointer where C has {cType}");
                return;
            }
            if (!managed.IsUnmanagedFunctionPointer)
            {
                failures.Add($"{function} {what}: a managed function pointer for {cType}");
            }
            var args = managed.GetFunctionPointerParameterTypes();
            if (args.Length != fn.Args.Count)
            {
                failures.Add($"{function} {what}: callback with {args.Length} arguments, {cType} has {fn.Args.Count}");
                return;
            }
            Compare(api, function, $"{what} ({cType}) return", fn.Return, managed.GetFunctionPointerReturnType(), failures);
            for (var i = 0; i < args.Length; i++)
            {
                Compare(api, function, $"{what} ({cType}) {fn.Args[i].Name}", fn.Args[i].Type, args[i], failures);
            }
            return;
        }
        var expected = api.Expected(cType);
        var actual = Describe(managed);
        if (!expected.Contains(actual))
        {
            failures.Add($"{function} {what}: {actual}, C has '{cType}' (expected {string.Join(" or ", expected)})");
        }
    }

    private static string Describe(Type t) =>
        t.IsFunctionPointer ? "fnptr"
        : t.IsPointer ? Describe(t.GetElementType()!) + "*"
        : t == typeof(void) ? "void"
        : t == typeof(int) ? "int"
        : t == typeof(uint) ? "uint"
        : t == typeof(long) ? "long"
        : t == typeof(ulong) ? "ulong"
        : t == typeof(nint) ? "nint"
        : t == typeof(nuint) ? "nuint"
        : t == typeof(byte) ? "byte"
        : t == typeof(ushort) ? "ushort"
        : t == typeof(string) ? "string"
        : t.Name;

    private sealed record CFunction(string Return, List<(string Name, string Type)> Args);

    /// <summary>One API description file: functions, callback typedefs, typedefs, enums, structs.</summary>
    private sealed class Api
    {
        // C scalar → the C# type of the same size and signedness on x86_64 (LP64).
        private static readonly Dictionary<string, string[]> Scalars = new()
        {
            ["void"] = ["void"],
            ["int"] = ["int"],
            ["unsigned int"] = ["uint"],
            ["long long"] = ["long"],
            ["unsigned long long"] = ["ulong"],
            ["unsigned long"] = ["nuint", "ulong"],
            ["long"] = ["nint", "long"],
            ["size_t"] = ["nuint"],
            ["unsigned char"] = ["byte"],
            ["unsigned short"] = ["ushort"],
        };

        // Opaque libvirt objects: a SafeHandle for the owned reference, or the raw pointer (release functions, callbacks).
        private static readonly Dictionary<string, string> Handles = new()
        {
            ["virConnect"] = "ConnectHandle",
            ["virDomain"] = "DomainHandle",
            ["virStream"] = "StreamHandle",
        };

        // Structs the binding mirrors, used through pointers.
        private static readonly Dictionary<string, string> MirroredStructs = new()
        {
            ["virDomainInfo"] = "DomainInfoNative",
            ["virDomainInterfaceStatsStruct"] = "InterfaceStatsNative",
            ["virDomainBlockStatsStruct"] = "BlockStatsNative",
            ["virDomainMemoryStatStruct"] = "MemoryStatNative",
            ["virError"] = "ErrorNative",
        };

        private readonly Dictionary<string, string> _typedefs = [];
        private readonly Dictionary<string, string> _enums = [];

        // libvirt-qemu's description uses libvirt's types (virDomainPtr...) without repeating them.
        private readonly Api? _base;

        public Api(string path, Api? baseApi = null)
        {
            _base = baseApi;
            Assert.True(File.Exists(path), $"{path} is missing (package libvirt-dev)");
            var doc = XDocument.Load(path);
            foreach (var f in doc.Descendants("function"))
            {
                Functions[(string)f.Attribute("name")!] = Read(f);
            }
            foreach (var f in doc.Descendants("functype"))
            {
                FuncTypes[(string)f.Attribute("name")!] = Read(f);
            }
            foreach (var t in doc.Descendants("typedef"))
            {
                _typedefs[(string)t.Attribute("name")!] = (string)t.Attribute("type")!;
            }
            foreach (var e in doc.Descendants("enum"))
            {
                _enums[(string)e.Attribute("name")!] = (string)e.Attribute("value")!;
            }
            foreach (var s in doc.Descendants("struct"))
            {
                Structs[(string)s.Attribute("name")!] = s.Elements("field").Select(f => ((string)f.Attribute("name")!, (string)f.Attribute("type")!)).ToList();
            }
        }

        public Dictionary<string, CFunction> Functions { get; } = [];

        public Dictionary<string, CFunction> FuncTypes { get; } = [];

        public Dictionary<string, List<(string Name, string Type)>> Structs { get; } = [];

        private static CFunction Read(XElement f) =>
            new((string?)f.Element("return")?.Attribute("type") ?? "void",
                f.Elements("arg").Select(a => ((string)a.Attribute("name")!, (string)a.Attribute("type")!)).ToList());

        /// <summary>An enum constant's value, following aliases (VIR_DOMAIN_MEM_LIVE = VIR_DOMAIN_AFFECT_LIVE); null when unknown.</summary>
        public long? EnumValue(string name)
        {
            for (var i = 0; i < 8 && _enums.TryGetValue(name, out var value); i++)
            {
                if (long.TryParse(value, out var n))
                {
                    return n;
                }
                name = value;
            }
            return null;
        }

        /// <summary>The C# spellings (see Describe) that fit a C type.</summary>
        public HashSet<string> Expected(string cType)
        {
            var t = cType.Trim();
            var isConst = t.StartsWith("const ", StringComparison.Ordinal);
            if (isConst)
            {
                t = t[6..].Trim();
            }
            var stars = t.Count(ch => ch == '*');
            var baseName = t.Replace("*", "").Trim();
            // Pointer typedefs (virDomainPtr = virDomain *, virErrorPtr = virError *...).
            while ((_typedefs.TryGetValue(baseName, out var target) || (_base?._typedefs.TryGetValue(baseName, out target) ?? false)) && target!.EndsWith('*'))
            {
                stars += target.Count(ch => ch == '*');
                baseName = target.Replace("*", "").Trim();
            }
            var more = new string('*', Math.Max(0, stars - 1));
            var all = new string('*', stars);
            if (stars == 0)
            {
                return Scalars.TryGetValue(baseName, out var s) ? [.. s] : [$"<no mapping for '{cType}'>"];
            }
            if (baseName == "char" && stars == 1)
            {
                return isConst ? ["string", "byte*"] : ["byte*"];
            }
            if (baseName == "void" && stars == 1)
            {
                return ["nint", "void*"];
            }
            if (Handles.TryGetValue(baseName, out var handle))
            {
                return stars == 1 ? [handle, "nint"] : ["nint" + more];
            }
            if (MirroredStructs.TryGetValue(baseName, out var mirrored))
            {
                return [mirrored + all];
            }
            return Scalars.TryGetValue(baseName, out var scalar) ? [.. scalar.Select(x => x + all)] : [$"<no mapping for '{cType}'>"];
        }
    }
}
