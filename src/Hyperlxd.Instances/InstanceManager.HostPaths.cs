using System.Collections.Concurrent;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Instances;
using Hyperlxd.Interop.Linux;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Instances;

/// <summary>
/// Host-path disks of containers in a restricted project with <c>restricted.devices.disk.paths</c>. The policy
/// checks the path when the disk is added and again before a start, but a tenant able to write below the prefix
/// (through another disk of its own) could swap a component for a symlink between that check and the mount. So
/// the source is opened once beneath its prefix (openat2 RESOLVE_BENEATH, as LXD opens it) and exactly that file
/// is bind-mounted onto a root-only staging path, which the container mounts; the staging mount goes as soon as
/// the container holds its own (start or hot-plug done), and leftovers of a crash go at the next daemon start.
/// VMs are not pinned: QEMU may open a share after start (their disks keep the checks only).
/// </summary>
public sealed partial class InstanceManager
{
    private readonly ConcurrentDictionary<string, ConcurrentBag<string>> _pins = new();

    private string PinRoot => Path.Combine(options.StateDir, "pinned");

    /// <summary>What a host-path disk of <paramref name="device"/>'s instance mounts: its source, or the source pinned beneath its prefix.</summary>
    private async Task<string> HostPathAsync(DeviceContext device, string source, CancellationToken ct)
    {
        if (device.Type != InstanceType.Container || await DiskPrefixesAsync(device.Instance, ct) is not { } list)
        {
            return source;
        }
        var prefix = DiskDevice.RestrictedParent(list, source) is { } parent ? DiskDevice.CleanPath(parent)
            : throw new ForbiddenException($"Disk source path \"{source}\" not allowed (project restriction \"restricted.devices.disk.paths\")");
        SafeFdHandle fd;
        try
        {
            fd = Syscalls.OpenBeneath(prefix, Path.GetRelativePath(prefix, DiskDevice.CleanPath(source)));
        }
        catch (ErrnoException e) when (e.Errno == Errno.EXDEV)
        {
            throw new ForbiddenException($"Source path \"{source}\" resolves outside of restricted parent source path \"{prefix}\" (project restriction \"restricted.devices.disk.paths\")");
        }
        catch (ErrnoException e) when (e.Errno == Errno.ENOENT)
        {
            throw new BadRequestException($"Device \"{device.Name}\": missing source path \"{source}\" for disk \"{device.Name}\"");
        }
        using (fd)
        {
            Directory.CreateDirectory(PinRoot, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var staging = Path.Combine(PinRoot, Guid.NewGuid().ToString("N"));
            if (Syscalls.IsDirectory(fd))
            {
                Directory.CreateDirectory(staging);
            }
            else
            {
                File.Create(staging).Dispose();
            }
            _pins.GetOrAdd(device.Instance, _ => new()).Add(staging);
            Syscalls.BindPrivate(fd, staging);
            return staging;
        }
    }

    /// <summary>The <c>restricted.devices.disk.paths</c> of a restricted project allowing host-path disks, or null when its disks are not confined.</summary>
    private async Task<string?> DiskPrefixesAsync(string instance, CancellationToken ct)
    {
        var project = ProjectKeys.InstanceProject(instance);
        if (project == ProjectKeys.Default || await store.Projects.FindAsync(project, ct) is not { } p
            || !LxdBool.IsTrue(p.Config.GetValueOrDefault("restricted")) || p.Config.GetValueOrDefault("restricted.devices.disk") != "allow"
            || p.Config.GetValueOrDefault("restricted.devices.disk.paths") is not { Length: > 0 } list)
        {
            return null;
        }
        return list;
    }

    /// <summary>Drops the staging mounts of <paramref name="instance"/>'s disks: the container holds its own mounts by now (or failed to).</summary>
    private void ReleasePins(string instance)
    {
        if (!_pins.TryRemove(instance, out var pins))
        {
            return;
        }
        foreach (var staging in pins)
        {
            RemoveStaging(staging);
        }
    }

    /// <summary>At daemon start: what a crash between a pin and its release left.</summary>
    private void SweepPins()
    {
        if (Directory.Exists(PinRoot))
        {
            foreach (var staging in Directory.EnumerateFileSystemEntries(PinRoot))
            {
                RemoveStaging(staging);
            }
        }
    }

    private void RemoveStaging(string staging)
    {
        try
        {
            Syscalls.Detach(staging);
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging);
            }
            else
            {
                File.Delete(staging);
            }
        }
        catch (IOException e)
        {
            logger.LogWarning("Could not remove the disk staging path {Staging}: {Error}", staging, e.Message);
        }
    }
}
