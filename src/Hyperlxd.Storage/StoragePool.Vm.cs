using Hyperlxd.Storage.Drivers;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Storage;

/// <summary>
/// What VM volumes need of the pool: <c>size</c> is the disk's size, and image volumes that VM overlays
/// (dir) still back onto after their image was deleted are kept with a marker file, and dropped once
/// no VM volume or snapshot of the pool names their disk.
/// </summary>
public sealed partial class StoragePool
{
    /// <summary>A root disk's <c>size</c>: a VM's disk grows (never shrinks, "" keeps it); a container's volume gets a quota.</summary>
    private async Task ApplySizeAsync(Volume vol, string size, CancellationToken ct)
    {
        if (vol.Type != VolumeType.VirtualMachine)
        {
            await Driver.SetQuotaAsync(vol, size, ct);
        }
        else if (size.Length > 0)
        {
            await VmDisk.GrowAsync(VmDisk.PathIn(Driver.VolumePath(vol)), size);
        }
    }

    private const string EvictedMarkerName = ".evicted";

    private static string EvictedMarker(string imageVolume) => Path.Combine(imageVolume, EvictedMarkerName);

    /// <summary>The VM disks (volumes and snapshots) of this pool whose backing file is <paramref name="imageVolume"/>'s disk.</summary>
    private List<string> OverlayUsers(string imageVolume)
    {
        var disk = Path.GetFullPath(VmDisk.PathIn(imageVolume));
        if (!File.Exists(disk))
        {
            return [];
        }
        var vms = Path.GetDirectoryName(Driver.VolumePath(new Volume(VolumeType.VirtualMachine, "x")))!;
        var candidates = Dirs(vms).Concat(Dirs(vms + "-snapshots").SelectMany(Dirs));
        return candidates.Select(VmDisk.PathIn)
            .Where(f => File.Exists(f) && VmDisk.BackingFile(f) == disk)
            .ToList();
    }

    private static IEnumerable<string> Dirs(string dir) => Directory.Exists(dir) ? Directory.EnumerateDirectories(dir) : [];

    /// <summary>Drops each image volume marked evicted that no VM disk backs onto any more (after a VM volume or snapshot is deleted).</summary>
    public async Task ReleaseEvictedImagesAsync(CancellationToken ct)
    {
        var images = Path.GetDirectoryName(Driver.VolumePath(new Volume(VolumeType.Image, "x")))!;
        foreach (var path in Dirs(images).Where(d => File.Exists(EvictedMarker(d))).ToList())
        {
            var fingerprint = Path.GetFileName(path);
            using var _ = await _locks.AcquireAsync(Key(VolumeType.Image, fingerprint), ct);
            if (!File.Exists(EvictedMarker(path)) || OverlayUsers(path).Count > 0)
            {
                continue;
            }
            await Driver.DeleteVolumeAsync(new Volume(VolumeType.Image, fingerprint), ct);
            if (await _repo.FindVolumeAsync(Name, "image", fingerprint, ct) is { } record)
            {
                await _repo.DeleteVolumeAsync(record.Id, ct);
            }
            _logger.LogInformation("Dropped the evicted image volume {Image} on pool {Pool}: no VM backs onto it any more", fingerprint, Name);
        }
    }
}
