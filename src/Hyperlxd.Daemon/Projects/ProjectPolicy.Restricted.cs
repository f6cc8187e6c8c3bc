using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Instances;
using Hyperlxd.Instances;

namespace Hyperlxd.Daemon.Projects;

/// <summary>
/// <c>restricted=true</c>: each <c>restricted.*</c> key takes LXD 5.0.2's default (the safe one) unless
/// the project says otherwise (lxd/project/permissions.go checkRestrictions). Instances are checked with
/// their profiles applied, profiles on their own (low-level keys then need both the container and the VM
/// low-level allowed, as LXD cannot know which instances will use them). Refusals are 403s that name the
/// key that forbids it.
/// </summary>
public sealed partial class ProjectPolicy : Instances.Snapshots.ISnapshotGate
{
    private static readonly Dictionary<string, string> Defaults = new(StringComparer.Ordinal)
    {
        ["restricted.containers.nesting"] = "block",
        ["restricted.containers.lowlevel"] = "block",
        ["restricted.containers.privilege"] = "unprivileged",
        ["restricted.containers.interception"] = "block",
        ["restricted.virtual-machines.lowlevel"] = "block",
        ["restricted.devices.unix-char"] = "block",
        ["restricted.devices.unix-block"] = "block",
        ["restricted.devices.unix-hotplug"] = "block",
        ["restricted.devices.infiniband"] = "block",
        ["restricted.devices.gpu"] = "block",
        ["restricted.devices.usb"] = "block",
        ["restricted.devices.pci"] = "block",
        ["restricted.devices.proxy"] = "block",
        ["restricted.devices.nic"] = "managed",
        ["restricted.devices.disk"] = "managed",
        ["restricted.snapshots"] = "block",
        ["restricted.backups"] = "block",
    };

    /// <summary>LXD's isContainerLowLevelOptionForbidden (plus any other security.syscalls.intercept.* key).</summary>
    private static readonly HashSet<string> ContainerLowLevelKeys = new(StringComparer.Ordinal)
    {
        "boot.host_shutdown_timeout", "linux.kernel_modules", "raw.apparmor", "raw.idmap", "raw.lxc", "raw.seccomp",
        "security.devlxd.images", "security.idmap.base", "security.idmap.size",
    };

    /// <summary>LXD's isVMLowLevelOptionForbidden.</summary>
    private static readonly HashSet<string> VmLowLevelKeys = new(StringComparer.Ordinal)
    {
        "boot.host_shutdown_timeout", "limits.memory.hugepages", "raw.idmap", "raw.qemu",
    };

    private static readonly string[] InterceptKeys =
    {
        "security.syscalls.intercept.bpf", "security.syscalls.intercept.bpf.devices", "security.syscalls.intercept.mknod",
        "security.syscalls.intercept.mount", "security.syscalls.intercept.mount.fuse", "security.syscalls.intercept.setxattr",
    };

    /// <summary>The effective value of a restricted.* key ("allow" everywhere when the project is not restricted).</summary>
    public static string Restriction(Project p, string key) =>
        !LxdBool.IsTrue(p.Config.GetValueOrDefault("restricted")) ? "allow"
            : p.Config.GetValueOrDefault(key) is { Length: > 0 } v ? v : Defaults.GetValueOrDefault(key, "allow");

    /// <summary>The snapshot scheduler's question: a project that has gone since is simply not allowed.</summary>
    public async Task<bool> AllowsSnapshotsAsync(string project, CancellationToken ct)
    {
        try
        {
            return Restriction(await ProjectAsync(project, ct), "restricted.snapshots") != "block";
        }
        catch (NotFoundException)
        {
            return false;
        }
    }

    /// <summary>Snapshots and backups of a restricted project (restricted.snapshots / restricted.backups).</summary>
    public async Task CheckAllowedAsync(string project, string key, string what, CancellationToken ct)
    {
        var p = await ProjectAsync(project, ct);
        if (Restriction(p, key) == "block")
        {
            throw new ForbiddenException($"{what} are forbidden in project \"{project}\" (\"{key}\" is block)");
        }
    }

    /// <summary>
    /// The restrictions of <paramref name="p"/> on one instance (<paramref name="type"/>) or, with a null type,
    /// one profile. <paramref name="entity"/> names it in messages ("container \"c1\"").
    /// </summary>
    private static void CheckRestricted(Project p, InstanceType? type, string entity, IReadOnlyDictionary<string, string> config, IReadOnlyDictionary<string, Dictionary<string, string>> devices)
    {
        var containerOrProfile = type != InstanceType.VirtualMachine;
        var vmOrProfile = type != InstanceType.Container;
        var containerLowLevel = Restriction(p, "restricted.containers.lowlevel") == "allow";
        var vmLowLevel = Restriction(p, "restricted.virtual-machines.lowlevel") == "allow";
        var lowLevelAllowed = type switch
        {
            InstanceType.Container => containerLowLevel,
            InstanceType.VirtualMachine => vmLowLevel,
            _ => containerLowLevel && vmLowLevel,
        };
        var lowLevelKey = type == InstanceType.VirtualMachine ? "restricted.virtual-machines.lowlevel" : "restricted.containers.lowlevel";
        foreach (var (key, value) in config)
        {
            if (!lowLevelAllowed)
            {
                if (key == "raw.idmap")
                {
                    CheckRawIdmap(p, entity, value, lowLevelKey);
                }
                else if ((containerOrProfile && (ContainerLowLevelKeys.Contains(key) || (key.StartsWith("security.syscalls.intercept", StringComparison.Ordinal) && !InterceptKeys.Contains(key))))
                         || (vmOrProfile && VmLowLevelKeys.Contains(key)))
                {
                    Forbid($"Use of low-level config \"{key}\" on {entity} of project \"{p.Name}\" is forbidden",
                        containerOrProfile && ContainerLowLevelKeys.Contains(key) ? "restricted.containers.lowlevel" : "restricted.virtual-machines.lowlevel");
                }
            }
            if (!containerOrProfile)
            {
                continue;
            }
            if (key == "security.nesting" && LxdBool.IsTrue(value) && Restriction(p, "restricted.containers.nesting") == "block")
            {
                Forbid($"Container nesting is forbidden on {entity}", "restricted.containers.nesting");
            }
            if (InterceptKeys.Contains(key) && LxdBool.IsTrue(value) && Restriction(p, "restricted.containers.interception") != "allow")
            {
                Forbid($"Container syscall interception is forbidden on {entity}", "restricted.containers.interception");
            }
        }
        var privilege = Restriction(p, "restricted.containers.privilege");
        if (containerOrProfile && privilege != "allow" && LxdBool.IsTrue(config.GetValueOrDefault("security.privileged")))
        {
            Forbid($"Privileged containers are forbidden on {entity}", "restricted.containers.privilege");
        }
        if (type == InstanceType.Container && privilege == "isolated" && !LxdBool.IsTrue(config.GetValueOrDefault("security.idmap.isolated")))
        {
            Forbid($"Non-isolated containers are forbidden on {entity}", "restricted.containers.privilege");
        }
        foreach (var (name, device) in devices)
        {
            CheckDevice(p, entity, name, device);
        }
    }

    private static void CheckDevice(Project p, string entity, string name, IReadOnlyDictionary<string, string> device)
    {
        var type = device.GetValueOrDefault("type", "");
        var key = "restricted.devices." + type;
        var rule = Restriction(p, key);
        var network = device.GetValueOrDefault("network", "");
        var parent = device.GetValueOrDefault("parent", "");
        var source = device.GetValueOrDefault("source", "");
        var (problem, byKey) = type switch
        {
            "nic" when rule == "block" => ("Network devices are forbidden", key),
            "nic" when rule == "managed" && network.Length == 0 => ("Only managed network devices are allowed", key),
            // LXD: the network a nic names (or, unmanaged, its parent link) must be one the project may use.
            "nic" when network.Length > 0 && !NetworkAllowed(p, network, managed: true) => ($"Network \"{network}\" not allowed in project", "restricted.networks.access"),
            "nic" when network.Length == 0 && parent.Length > 0 && !NetworkAllowed(p, parent, managed: false) => ($"Network \"{parent}\" not allowed in project", "restricted.networks.access"),
            "disk" when device.GetValueOrDefault("path") == "/" && !string.IsNullOrEmpty(device.GetValueOrDefault("pool")) => (null, key),
            "disk" when string.IsNullOrEmpty(device.GetValueOrDefault("path")) && source == "cloud-init:config" => (null, key),
            "disk" when rule == "block" => ("Disk devices are forbidden", key),
            "disk" when rule == "managed" && string.IsNullOrEmpty(device.GetValueOrDefault("pool")) => ("Attaching disks not backed by a pool is forbidden", key),
            "disk" when rule == "allow" && string.IsNullOrEmpty(device.GetValueOrDefault("pool")) => (DiskPathProblem(p, device), "restricted.devices.disk.paths"),
            "nic" or "disk" or "none" => (null, key),
            _ when rule == "block" => ($"{type} devices are forbidden", key),
            _ => (null, key),
        };
        if (problem is not null)
        {
            Forbid($"{problem}: device \"{name}\" on {entity}", byKey);
        }
    }

    /// <summary>
    /// Before a start, the host-path disks of an instance of a restricted project with
    /// <c>restricted.devices.disk.paths</c> are resolved again (LXD opens them with openat2 RESOLVE_BENEATH at
    /// start): a symlink changed since the disk was added must not lead the mount out of the allowed prefix.
    /// </summary>
    public async Task CheckStartAsync(InstanceManager.Expanded e, CancellationToken ct)
    {
        var project = ProjectKeys.InstanceProject(e.Record.Name);
        if (project == ProjectKeys.Default)
        {
            return;
        }
        var p = await ProjectAsync(project, ct);
        if (Restriction(p, "restricted.devices.disk") != "allow" || !LxdBool.IsTrue(p.Config.GetValueOrDefault("restricted")))
        {
            return; // "managed" and "block" leave no host-path disk to resolve; unrestricted projects have no prefix
        }
        foreach (var (name, device) in e.Devices.Where(d => d.Value.GetValueOrDefault("type") == "disk" && !d.Value.ContainsKey("pool")))
        {
            if (DiskPathProblem(p, device) is { } problem)
            {
                Forbid($"{problem}: device \"{name}\" on {e.Record.Type.ToApi()} \"{ProjectKeys.InstanceName(e.Record.Name)}\"", "restricted.devices.disk.paths");
            }
        }
    }

    /// <summary>
    /// A host-path disk under <c>restricted.devices.disk.paths</c>: the source, cleaned as LXD does ("..", "."
    /// and repeated slashes resolved as text), must lie under one of the listed prefixes. Unlike LXD, which only
    /// finds out at start (openat2 RESOLVE_BENEATH), a source whose existing symlinks lead out of that prefix is
    /// refused here already; <c>shift</c> is refused on such a disk, as in LXD.
    /// </summary>
    private static string? DiskPathProblem(Project p, IReadOnlyDictionary<string, string> device)
    {
        if (p.Config.GetValueOrDefault("restricted.devices.disk.paths") is not { Length: > 0 } list)
        {
            return null;
        }
        var source = device.GetValueOrDefault("source", "");
        if (DiskDevice.RestrictedParent(list, source) is not { } parent)
        {
            return $"Disk source path \"{source}\" not allowed";
        }
        if (LxdBool.IsTrue(device.GetValueOrDefault("shift")))
        {
            return "The \"shift\" property cannot be used with a restricted source path";
        }
        var realParent = Resources.HostResources.RealPath(DiskDevice.CleanPath(parent));
        var realSource = Resources.HostResources.RealPath(DiskDevice.CleanPath(source));
        return DiskDevice.IsUnder(realSource, realParent) ? null : $"Source path \"{source}\" resolves outside of restricted parent source path \"{parent}\"";
    }

    /// <summary>
    /// <c>raw.idmap</c> while low-level keys are blocked: each entry's host ids must lie inside one range of
    /// <c>restricted.idmap.uid</c> (uid entries) and <c>restricted.idmap.gid</c> (gid entries); "both" needs both.
    /// </summary>
    private static void CheckRawIdmap(Project p, string entity, string value, string lowLevelKey)
    {
        List<RawIdmapEntry> entries;
        try
        {
            entries = RawIdmap.Parse(value);
        }
        catch (FormatException e)
        {
            throw new BadRequestException($"Invalid value for config key \"raw.idmap\": {e.Message}");
        }
        var uids = IdRanges(p.Config.GetValueOrDefault("restricted.idmap.uid", ""));
        var gids = IdRanges(p.Config.GetValueOrDefault("restricted.idmap.gid", ""));
        for (var i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            bool Covered(List<(long First, long Count)> allowed) => allowed.Any(a => e.HostId >= a.First && e.HostId + e.Range <= a.First + a.Count);
            if ((e.IsUid && !Covered(uids)) || (e.IsGid && !Covered(gids)))
            {
                var key = e.IsUid && !Covered(uids) ? "restricted.idmap.uid" : "restricted.idmap.gid";
                throw new ForbiddenException($"Use of low-level \"raw.idmap\" element {i} on {entity} of project \"{p.Name}\" is forbidden (project restrictions \"{key}\" and \"{lowLevelKey}\")");
            }
        }
    }

    /// <summary>A list of host id ranges ("1000", "2000-2999", ...), as <see cref="ProjectService"/> validated it.</summary>
    internal static List<(long First, long Count)> IdRanges(string list) =>
        list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(item => ParseIdRange(item) ?? throw new BadRequestException($"Invalid id range \"{item}\""))
            .ToList();

    /// <summary>LXD's ParseUint32Range: "N" or "START-END" with START lower than END; null when invalid.</summary>
    internal static (long First, long Count)? ParseIdRange(string item)
    {
        var parts = item.Split('-', 2);
        if (!uint.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var first))
        {
            return null;
        }
        if (parts.Length == 1)
        {
            return (first, 1);
        }
        return uint.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var last) && first < last
            ? (first, (long)last - first + 1)
            : null;
    }

    private static void Forbid(string message, string key) =>
        throw new ForbiddenException($"{message} (project restriction \"{key}\")");
}
