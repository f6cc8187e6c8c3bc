using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Snapshots;

namespace Hyperlxd.Core.Config;

/// <summary>
/// The instance config keys both drivers understand (LXD's names), validated in one place for
/// instances and profiles alike. A key that is not listed here is rejected: accepting it silently
/// would suggest a feature that does not exist.
/// </summary>
public static class InstanceConfig
{
    private static readonly Dictionary<string, Validators.Check> Keys = new()
    {
        ["boot.autostart"] = Validators.Bool,
        ["boot.autostart.delay"] = Validators.Int(0),
        ["boot.autostart.priority"] = Validators.Int(),
        ["boot.host_shutdown_timeout"] = Validators.Int(0),
        ["boot.stop.priority"] = Validators.Int(),
        ["limits.cpu"] = Validators.CpuLimit,
        ["limits.cpu.allowance"] = Validators.CpuAllowance,
        ["limits.cpu.priority"] = Validators.Int(0, 10),
        ["limits.memory"] = Validators.MemoryLimit,
        ["limits.memory.enforce"] = Validators.OneOf("hard", "soft"),
        ["limits.memory.swap"] = Validators.Bool,
        ["limits.processes"] = Validators.Int(1),
        ["security.privileged"] = Validators.Bool,
        ["security.nesting"] = Validators.Bool,
        ["security.protection.delete"] = Validators.Bool,
        ["security.idmap.isolated"] = Validators.Bool,
        ["security.idmap.size"] = Validators.Int(65536),
        ["security.idmap.base"] = Validators.Int(0, RawIdmap.MaxId),
        ["raw.idmap"] = RawIdmap.Check,
        ["security.secureboot"] = Validators.Bool,
        ["snapshots.schedule"] = v => SnapshotSchedule.Problem(v, SnapshotSchedule.InstanceAliases) is { } p ? "is invalid: " + p : null,
        ["snapshots.schedule.stopped"] = Validators.Bool,
        ["snapshots.pattern"] = Validators.Any,
        ["snapshots.expiry"] = v => SnapshotExpiry.Problem(v) is { } p ? "is invalid: " + p : null,
        ["cloud-init.user-data"] = Validators.Any,
        ["cloud-init.vendor-data"] = Validators.Any,
        ["cloud-init.network-config"] = Validators.Any,
        ["user.user-data"] = Validators.Any,
        ["linux.kernel_modules"] = Validators.Any,
        ["limits.memory.hugepages"] = Validators.Bool,
        ["raw.qemu"] = Validators.Any,
        ["security.agent.metrics"] = Validators.Bool,
        ["security.csm"] = Validators.Bool,
        ["agent.nic_config"] = Validators.Bool,
        ["migration.stateful"] = Validators.Bool,
    };

    /// <summary>
    /// Keys that apply to one instance type only (LXD's "container only" / "VM only"); a name ending in
    /// '.' covers every key below it. Profiles may carry both: what counts is the expanded config.
    /// </summary>
    private static readonly (string Key, InstanceType Only)[] Scoped =
    {
        ("security.nesting", InstanceType.Container),
        ("security.privileged", InstanceType.Container),
        ("security.idmap.", InstanceType.Container),
        ("raw.idmap", InstanceType.Container),
        ("raw.lxc", InstanceType.Container),
        ("linux.kernel_modules", InstanceType.Container),
        ("limits.processes", InstanceType.Container),
        ("security.secureboot", InstanceType.VirtualMachine),
        ("limits.memory.hugepages", InstanceType.VirtualMachine),
        ("raw.qemu", InstanceType.VirtualMachine),
        ("security.agent.metrics", InstanceType.VirtualMachine),
        ("security.csm", InstanceType.VirtualMachine),
        ("agent.nic_config", InstanceType.VirtualMachine),
        ("migration.stateful", InstanceType.VirtualMachine),
    };

    /// <summary>What a VM gets when <c>limits.cpu</c> / <c>limits.memory</c> are unset (LXD 5.0: 1 vCPU, 1GiB).</summary>
    public const int VmDefaultCpus = 1;

    /// <summary>LXD 5.0's default VM memory: 1GiB.</summary>
    public const long VmDefaultMemoryBytes = 1L << 30;

    /// <summary>Free-form namespaces: anything below these prefixes is the user's own.</summary>
    private static readonly string[] FreePrefixes = { "user.", EnvironmentPrefix, "image." };

    public const string EnvironmentPrefix = "environment.";

    /// <summary>
    /// Validates a whole config map. Profiles may not carry <c>volatile.*</c> keys (the daemon's own state).
    /// Throws <see cref="BadRequestException"/> naming the first bad key.
    /// </summary>
    public static void Validate(IReadOnlyDictionary<string, string> config, bool isProfile)
    {
        foreach (var (key, value) in config)
        {
            ValidateKey(key, value, isProfile);
        }
    }

    /// <summary>
    /// Validates an instance's (expanded) config for its type: as <see cref="Validate(IReadOnlyDictionary{string, string}, bool)"/>,
    /// and a key of the other instance type is a 400 naming it.
    /// </summary>
    public static void Validate(IReadOnlyDictionary<string, string> config, InstanceType type)
    {
        Validate(config, isProfile: false);
        foreach (var key in config.Keys)
        {
            if (ScopeOf(key) is { } only && only != type)
            {
                throw new BadRequestException($"Config key \"{key}\" applies to {(only == InstanceType.Container ? "containers" : "virtual machines")} only");
            }
        }
        if (type == InstanceType.VirtualMachine)
        {
            ValidateVm(config, Validators.HostMemoryBytes);
        }
    }

    /// <summary>
    /// What only a VM needs checked as a whole: its memory is allocated for real (QEMU cannot start a
    /// guest larger than the host), and a CSM (legacy BIOS) boot cannot be a secure boot.
    /// </summary>
    public static void ValidateVm(IReadOnlyDictionary<string, string> config, Func<long> hostMemoryBytes)
    {
        if (config.GetValueOrDefault("limits.memory") is { Length: > 0 } mem && !mem.EndsWith('%')
            && Validators.ParseSize(mem) is { } bytes && hostMemoryBytes() is > 0 and var host && bytes > host)
        {
            throw new BadRequestException($"Invalid value for config key \"limits.memory\": \"{mem}\" is more than the host's memory ({host} bytes)");
        }
        if (LxdBool.IsTrue(config.GetValueOrDefault("security.csm")) && !LxdBool.IsFalse(config.GetValueOrDefault("security.secureboot")))
        {
            throw new BadRequestException("Config key \"security.csm\" needs \"security.secureboot\" set to false (a legacy BIOS boot cannot be a secure boot)");
        }
    }

    /// <summary>The one instance type <paramref name="key"/> applies to, or null when it applies to both.</summary>
    public static InstanceType? ScopeOf(string key)
    {
        foreach (var (k, only) in Scoped)
        {
            if (k.EndsWith('.') ? key.StartsWith(k, StringComparison.Ordinal) : key == k)
            {
                return only;
            }
        }
        return null;
    }

    public static void ValidateKey(string key, string? value, bool isProfile)
    {
        value ??= "";
        if (Validators.KeyValueProblem(key, value) is { } bad)
        {
            throw new BadRequestException($"Invalid config key \"{Validators.Printable(key)}\": {bad}");
        }
        if (key.StartsWith("volatile.", StringComparison.Ordinal))
        {
            if (isProfile)
            {
                throw new BadRequestException($"Invalid config key \"{key}\": volatile keys cannot be set on profiles");
            }
            return;
        }
        if (FreePrefixes.Any(p => key.StartsWith(p, StringComparison.Ordinal) && key.Length > p.Length))
        {
            // environment.* goes into init's environment and every exec's: names and values must fit there.
            if (key.StartsWith(EnvironmentPrefix, StringComparison.Ordinal)
                && Validators.EnvironmentProblem(key[EnvironmentPrefix.Length..], value) is { } envProblem)
            {
                throw new BadRequestException($"Invalid config key \"{Validators.Printable(key)}\": {envProblem}");
            }
            return;
        }
        if (!Keys.TryGetValue(key, out var check))
        {
            throw new BadRequestException($"Unknown config key \"{key}\"");
        }
        if (value.Length > 0 && check(value) is { } problem)
        {
            throw new BadRequestException($"Invalid value for config key \"{key}\": \"{value}\" {problem}");
        }
    }
}
