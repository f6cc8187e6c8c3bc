using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Instances;

/// <summary>
/// Custom volumes attached to instances (disk devices with a <c>pool</c>): as LXD 5.0.2, a container's
/// volume is chown-shifted to the container's id map when it is attached (at start or hot-plug), and the
/// map it holds is recorded on the volume (<c>volatile.idmap.last</c>/<c>.next</c>). Two containers
/// whose maps differ cannot share a volume.
/// </summary>
public sealed partial class InstanceManager
{
    private readonly KeyedLock _volumeLocks = new();

    private const string VolumeLastKey = "volatile.idmap.last", VolumeNextKey = "volatile.idmap.next";

    /// <summary><paramref name="volume"/> as a device of <paramref name="device"/>'s instance names it: of the project that instance uses for volumes.</summary>
    private async Task<string> AttachVolumeAsync(DeviceContext device, string poolName, string volume, CancellationToken ct)
    {
        var keyOf = await pools.VolumeKeysAsync(ct);
        var key = keyOf(ProjectKeys.InstanceProject(device.Instance), volume);
        var pool = pools.Get(poolName);
        var path = pool.CustomVolumePath(key); // 400 naming it when it does not exist
        var driver = drivers.For(device.Type);
        using var _ = await _volumeLocks.AcquireAsync(poolName + "/" + key, ct);
        var v = await store.Storage.FindVolumeAsync(poolName, "custom", key, ct)
            ?? throw new BadRequestException($"Device \"{device.Name}\": storage volume \"{volume}\" not found on pool \"{poolName}\"");
        if (v.ContentType == "block" && device.Type == InstanceType.Container)
        {
            throw new BadRequestException($"Device \"{device.Name}\": only filesystem volumes are supported for containers");
        }
        if (driver.VolumeIdmap(device.InstanceConfig) is not { } next || LxdBool.IsTrue(v.Config.GetValueOrDefault("security.unmapped")))
        {
            return path;
        }
        var last = NoMap(v.Config.GetValueOrDefault(VolumeLastKey, ""));
        if (last != NoMap(next))
        {
            // LXD's rule: the volume may only move to another map when no other container needs the one it has.
            foreach (var other in await ExpandAllAsync((await Repo.ListAsync(ct)).Where(r => r.Type == device.Type && r.Name != device.Instance), ct))
            {
                if (other.Devices.Values.Any(d => d.GetValueOrDefault("pool") == poolName && DiskDevice.VolumeOf(d) is { } name
                        && keyOf(ProjectKeys.InstanceProject(other.Record.Name), name) == key)
                    && driver.VolumeIdmap(other.Config) is { } theirs && NoMap(theirs) != NoMap(next))
                {
                    throw new BadRequestException($"Idmaps of container \"{ProjectKeys.InstanceName(other.Record.Name)}\" and storage volume \"{volume}\" are not identical");
                }
            }
            driver.ShiftVolume(path, last, next);
        }
        if (v.Config.GetValueOrDefault(VolumeLastKey) != next || v.Config.GetValueOrDefault(VolumeNextKey) != next)
        {
            var config = new Dictionary<string, string>(v.Config) { [VolumeLastKey] = next, [VolumeNextKey] = next };
            await store.Storage.UpdateVolumeAsync(v.Id, v.Description, config, ct);
        }
        return path;
    }

    /// <summary>"" and "[]" both mean: ids as they are.</summary>
    private static string NoMap(string json) => json.Length == 0 ? "[]" : json;

    /// <summary>
    /// LXD's "More than one root device found", naming both: two disk devices at "/" in the expansion of
    /// <paramref name="record"/> (from two profiles, or a profile and the instance under different names).
    /// </summary>
    private static void CheckOneRootDisk(Hyperlxd.State.Repositories.InstanceRecord record, IReadOnlyDictionary<string, Hyperlxd.Api.Profile> profiles)
    {
        var origin = new Dictionary<string, string>();
        var devices = new Dictionary<string, Dictionary<string, string>>();
        foreach (var name in record.Profiles)
        {
            if (profiles.TryGetValue(name, out var p))
            {
                foreach (var (k, d) in p.Devices)
                {
                    (devices[k], origin[k]) = (d, $"profile \"{name}\"");
                }
            }
        }
        foreach (var (k, d) in record.Devices)
        {
            (devices[k], origin[k]) = (d, $"instance \"{record.Name}\"");
        }
        var roots = devices.Where(d => d.Value.GetValueOrDefault("type") == "disk" && DiskDevice.IsRoot(d.Value))
            .OrderBy(d => d.Key, StringComparer.Ordinal).ToList();
        if (roots.Count > 1)
        {
            string Describe(KeyValuePair<string, Dictionary<string, string>> d) =>
                $"\"{d.Key}\" from {origin[d.Key]} (pool \"{d.Value.GetValueOrDefault("pool", "")}\")";
            throw new BadRequestException(
                $"Failed detecting root disk device: More than one root device found: {string.Join(" and ", roots.Select(Describe))}");
        }
    }
}
