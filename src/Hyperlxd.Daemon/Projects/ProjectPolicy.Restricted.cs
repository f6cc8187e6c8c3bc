using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;

namespace Hyperlxd.Daemon.Projects;

/// <summary>
/// <c>restricted=true</c>: each <c>restricted.*</c> key takes LXD 5.0.2's default (the safe one) unless
/// the project says otherwise. Refusals are 403s that name the key that forbids it.
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

    private static readonly HashSet<string> LowLevelKeys = new(StringComparer.Ordinal)
    {
        "boot.host_shutdown_timeout", "linux.kernel_modules", "security.devlxd.images",
        "security.idmap.base", "security.idmap.size", "limits.memory.hugepages",
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

    private static void CheckRestricted(Project p, string entity, IReadOnlyDictionary<string, string> config, IReadOnlyDictionary<string, Dictionary<string, string>> devices)
    {
        foreach (var (key, value) in config)
        {
            if ((key.StartsWith("raw.", StringComparison.Ordinal) || LowLevelKeys.Contains(key)) && Restriction(p, "restricted.containers.lowlevel") == "block")
            {
                Forbid($"Use of low-level config \"{key}\" on {entity} of project \"{p.Name}\" is forbidden", "restricted.containers.lowlevel");
            }
            if (key == "security.nesting" && LxdBool.IsTrue(value) && Restriction(p, "restricted.containers.nesting") == "block")
            {
                Forbid($"Container nesting is forbidden on {entity}", "restricted.containers.nesting");
            }
            if (key.StartsWith("security.syscalls.intercept.", StringComparison.Ordinal) && LxdBool.IsTrue(value) && Restriction(p, "restricted.containers.interception") == "block")
            {
                Forbid($"Container syscall interception is forbidden on {entity}", "restricted.containers.interception");
            }
        }
        var privilege = Restriction(p, "restricted.containers.privilege");
        if (privilege != "allow" && LxdBool.IsTrue(config.GetValueOrDefault("security.privileged")))
        {
            Forbid($"Privileged containers are forbidden on {entity}", "restricted.containers.privilege");
        }
        if (privilege == "isolated" && !LxdBool.IsTrue(config.GetValueOrDefault("security.idmap.isolated")))
        {
            Forbid($"Non-isolated containers are forbidden on {entity}", "restricted.containers.privilege");
        }
        foreach (var (name, device) in devices)
        {
            var type = device.GetValueOrDefault("type", "");
            var key = "restricted.devices." + type;
            var rule = Restriction(p, key);
            var problem = type switch
            {
                "nic" when rule == "block" => "Network devices are forbidden",
                "nic" when rule == "managed" && string.IsNullOrEmpty(device.GetValueOrDefault("network")) => "Only managed network devices are allowed",
                "disk" when device.GetValueOrDefault("path") == "/" && !string.IsNullOrEmpty(device.GetValueOrDefault("pool")) => null,
                "disk" when rule == "block" => "Disk devices are forbidden",
                "disk" when rule == "managed" && string.IsNullOrEmpty(device.GetValueOrDefault("pool")) => "Attaching disks not backed by a pool is forbidden",
                "nic" or "disk" or "none" => null,
                _ when rule == "block" => $"{type} devices are forbidden",
                _ => null,
            };
            if (problem is not null)
            {
                Forbid($"{problem}: device \"{name}\" on {entity}", key);
            }
        }
    }

    private static void Forbid(string message, string key) =>
        throw new ForbiddenException($"{message} (project restriction \"{key}\")");
}
