using Hyperlxd.Core;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Instances;
using Hyperlxd.Interop.Linux;

namespace Hyperlxd.Instances;

public sealed partial class InstanceManager
{
    /// <summary>
    /// <c>/1.0/metrics</c>: the figures of every running instance the driver can measure, plus the
    /// filesystems of their pool-backed disks (LXD's getFSStats). An instance whose driver has none (a VM
    /// without an agent report) or that fails to answer is left out rather than failing the whole scrape.
    /// </summary>
    public async Task<List<(string Name, InstanceType Type, InstanceMetrics Metrics)>> MetricsAsync(CancellationToken ct)
    {
        var result = new List<(string, InstanceType, InstanceMetrics)>();
        var keyOf = await pools.VolumeKeysAsync(ct);
        foreach (var e in await ExpandAllAsync(await ListAsync(ct), ct))
        {
            InstanceMetrics? metrics;
            try
            {
                metrics = await DriverOf(e).MetricsAsync(SpecOf(e), ct);
            }
            catch (Exception ex) when (ex is HyperlxdException or IOException or InvalidOperationException or UnauthorizedAccessException)
            {
                continue;
            }
            if (metrics is not null)
            {
                result.Add((e.Record.Name, e.Type, metrics with { Filesystems = Filesystems(e, keyOf) }));
            }
        }
        return result;
    }

    /// <summary>statfs of each disk device on a pool: the instance's volume for the root disk, the custom volume otherwise.</summary>
    private List<FilesystemUsage> Filesystems(Expanded e, Func<string, string, string> volumeKey)
    {
        var result = new List<FilesystemUsage>();
        foreach (var (_, d) in e.Devices.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (d.GetValueOrDefault("type") != "disk" || d.GetValueOrDefault("path") is not { Length: > 0 } mountpoint
                || pools.TryGet(d.GetValueOrDefault("pool", "")) is not { } pool)
            {
                continue;
            }
            var source = d.GetValueOrDefault("source", "");
            if (e.Type == InstanceType.VirtualMachine && source.Length == 0)
            {
                continue; // the guest's filesystem is inside a disk image: the host cannot measure it
            }
            try
            {
                var path = source.Length == 0 ? pool.InstanceVolumePath(e.Record.Name, e.Type) : pool.CustomVolumePath(volumeKey(ProjectKeys.InstanceProject(e.Record.Name), DiskDevice.VolumeOf(d) ?? source));
                var fs = Syscalls.Statfs(path);
                // As LXD: the device is the mount source when the volume is a mount point of its own, else the disk's source.
                result.Add(new FilesystemUsage(MountSource(path) ?? source, mountpoint, fs.FsType, (long)fs.SizeBytes, (long)fs.FreeBytes, (long)fs.AvailBytes));
            }
            catch (Exception ex) when (ex is IOException or HyperlxdException)
            {
            }
        }
        return result;
    }

    private static string? MountSource(string path)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/mounts"))
            {
                var f = line.Split(' ');
                if (f.Length > 2 && f[1] == path)
                {
                    return f[0];
                }
            }
        }
        catch (IOException)
        {
        }
        return null;
    }
}
