using Hyperlxd.Containers.Cgroups;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Containers;

/// <summary>
/// Disks and device nodes. A unix-char/unix-block device is a node the daemon makes on the host
/// (<c>STATEDIR/devices/unix.DEVICE</c>, owned by the container's mapped ids: a user namespace cannot mknod),
/// bound onto its path inside and allowed in the device cgroup, as LXD does. Hot-plug mounts disks and
/// nodes into the running container's mount namespace with <c>hyperlxd-nsexec mount</c>; on cgroup2 the
/// device program is fixed at start, so a node cannot be hot-plugged there (a 400 says so). Custom
/// volumes are chown-shifted to the running map (LXD 5.0.2's attach shift).
/// </summary>
public sealed partial class ContainerDriver
{
    internal static string NodePath(InstanceSpec spec, string device) => Path.Combine(spec.StateDir, "devices", "unix." + device);

    /// <summary>The map the container runs with (or will, once prepared): what its volumes are shifted to.</summary>
    private IdMap? RunningMap(IReadOnlyDictionary<string, string> config) =>
        IdMap.IsPrivileged(config) ? null
        : config.GetValueOrDefault("volatile.idmap.current") is { Length: > 0 } current ? IdMap.FromLxdJson(current)
        : config.GetValueOrDefault(NextKey) is { Length: > 0 } next ? IdMap.FromLxdJson(next)
        : SharedMap;

    public string? VolumeIdmap(IReadOnlyDictionary<string, string> config) => RunningMap(config)?.ToLxdJson() ?? "[]";

    public void ShiftVolume(string path, string fromJson, string toJson) =>
        IdMap.Shift(path, fromJson is "" or "[]" ? null : IdMap.FromLxdJson(fromJson), toJson is "" or "[]" ? null : IdMap.FromLxdJson(toJson));

    /// <summary>The host node of <paramref name="node"/>, made again: owned by the mapped ids of its uid/gid, with its mode.</summary>
    private static string MakeNode(InstanceSpec spec, IdMap? map, DeviceNode node)
    {
        var path = NodePath(spec, node.Device);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.Delete(path);
        Syscalls.MkNod(path, node.Kind, node.Major, node.Minor, 0);
        var uid = map?.ToHost(node.Uid, true) ?? (map is null ? node.Uid : 65534);
        var gid = map?.ToHost(node.Gid, false) ?? (map is null ? node.Gid : 65534);
        Syscalls.Chown(path, uid, gid);
        Syscalls.Chmod(path, node.Mode);
        return path;
    }

    /// <summary>Before a start: the nodes of <see cref="InstanceSpec.Nodes"/> made on the host (those of devices gone since removed).</summary>
    private static void MakeNodes(InstanceSpec spec, IdMap? map)
    {
        var dir = Path.Combine(spec.StateDir, "devices");
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, true); // nodes of devices gone since
        }
        foreach (var node in spec.Nodes)
        {
            MakeNode(spec, map, node);
        }
    }

    public async Task AttachDeviceAsync(InstanceSpec spec, string device, IReadOnlyList<DeviceMount> mounts, IReadOnlyList<DeviceNode> nodes, CancellationToken ct)
    {
        var pid = await RunningInitAsync(spec, ct)
            ?? throw new BadRequestException($"Instance \"{spec.DisplayName}\" is not running: device \"{device}\" is added at the next start");
        if (nodes.Count > 0 && _cgroups is not CgroupV1Backend)
        {
            throw new BadRequestException(
                $"Device \"{device}\": unix-char and unix-block devices cannot be hot-plugged with the {_cgroups.Name} backend (its device program is fixed at start): stop the instance first");
        }
        var map = RunningMap(spec.Config);
        var defaults = CgroupLimits.From(spec.Config).DeviceAllowList().ToHashSet();
        await using var revert = new Reverter();
        foreach (var node in nodes)
        {
            var host = MakeNode(spec, map, node);
            revert.Add(() => File.Delete(host));
            _cgroups.AllowDevice(spec.Name, node.Rule, true);
            if (!defaults.Contains(node.Rule))
            {
                revert.Add(() => _cgroups.AllowDevice(spec.Name, node.Rule, false));
            }
            await MountInsideAsync(pid, map, device, host, node.Target, false, ct);
            revert.Add(() => UnmountInsideAsync(pid, device, node.Target, true, CancellationToken.None));
        }
        foreach (var mount in mounts)
        {
            await MountInsideAsync(pid, map, device, mount.Source, mount.Target, mount.ReadOnly, ct);
            revert.Add(() => UnmountInsideAsync(pid, device, mount.Target, false, CancellationToken.None));
        }
        revert.Success();
    }

    public (char Kind, uint Major, uint Minor)? PluggedNode(InstanceSpec spec, string device) => Syscalls.DeviceNumbers(NodePath(spec, device));

    public async Task DetachDeviceAsync(InstanceSpec spec, string device, IReadOnlyList<string> targets, CancellationToken ct)
    {
        if (await RunningInitAsync(spec, ct) is not { } pid)
        {
            return; // stopped meanwhile: nothing is mounted
        }
        var host = NodePath(spec, device);
        var numbers = Syscalls.DeviceNumbers(host);
        foreach (var target in targets)
        {
            await UnmountInsideAsync(pid, device, target, numbers is not null, ct);
        }
        if (numbers is { } n)
        {
            var rule = $"{n.Kind} {n.Major}:{n.Minor} rwm";
            if (!CgroupLimits.From(spec.Config).DeviceAllowList().Contains(rule) && !spec.Nodes.Any(o => o.Device != device && o.Rule == rule))
            {
                _cgroups.AllowDevice(spec.Name, rule, false);
            }
            File.Delete(host);
        }
    }

    /// <summary>The helper's message (its errno=N: report, else its trimmed stderr).</summary>
    private static string HelperMessage(string stderr)
    {
        _ = HelperReport.TryParse(stderr, out _, out var message);
        return message;
    }

    private async Task MountInsideAsync(int pid, IdMap? map, string device, string source, string target, bool readOnly, CancellationToken ct)
    {
        var (uid, gid) = map?.Root ?? (0u, 0u);
        var args = new List<string> { "mount", "--pid", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--source", source, "--target", target,
            "--uid", uid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--gid", gid.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (readOnly)
        {
            args.Add("--ro");
        }
        var (code, _, err) = await RunAsync(_nsexec, args, ct);
        if (code != 0)
        {
            throw new BadRequestException($"Device \"{device}\": {HelperMessage(err)}");
        }
    }

    private async Task UnmountInsideAsync(int pid, string device, string target, bool remove, CancellationToken ct)
    {
        var args = new List<string> { "umount", "--pid", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--target", target };
        if (remove)
        {
            args.Add("--remove");
        }
        var (code, _, err) = await RunAsync(_nsexec, args, ct);
        if (code != 0)
        {
            throw new BadRequestException($"Device \"{device}\": {HelperMessage(err)}");
        }
    }
}
