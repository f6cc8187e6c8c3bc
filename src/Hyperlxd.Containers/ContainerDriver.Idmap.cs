using System.Collections.Concurrent;
using Hyperlxd.Containers.Interop;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Containers;

/// <summary>
/// Unprivileged roots: idmapped mounts where the filesystem allows them (the disk keeps the image's
/// ids, as LXD does), else a chown shift into the id range.
/// </summary>
public sealed partial class ContainerDriver
{
    /// <summary>Probe results per filesystem (st_dev of the root): one helper run each.</summary>
    private readonly ConcurrentDictionary<ulong, bool> _idmapProbes = new();

    /// <summary>
    /// The map the root's disk should hold for the runtime map <paramref name="map"/>: none for
    /// privileged containers; the map itself when the disk is already shifted to it (existing
    /// containers keep working as they are) or idmapped mounts are unavailable; else none (unshifted).
    /// </summary>
    private async Task<IdMap?> DiskMapAsync(InstanceSpec spec, IdMap? map, CancellationToken ct)
    {
        if (map is null || IdMap.OnDisk(spec.Config) == map)
        {
            return map;
        }
        return await CanIdmapAsync(SpecWriter.RootFs(spec), ct) ? null : map;
    }

    /// <summary>Whether the filesystem of <paramref name="rootfs"/> takes an idmapped mount (hyperlxd-nsexec idmap-probe).</summary>
    internal async Task<bool> CanIdmapAsync(string rootfs, CancellationToken ct)
    {
        if (!_options.IdmappedMounts || Syscalls.LStat(rootfs, out var st) < 0)
        {
            return false;
        }
        if (_idmapProbes.TryGetValue(st.Dev, out var ok))
        {
            return ok;
        }
        var (code, _, _) = await RunAsync(_nsexec, new[] { "idmap-probe", rootfs }, ct);
        return _idmapProbes.GetOrAdd(st.Dev, code == 0);
    }
}
