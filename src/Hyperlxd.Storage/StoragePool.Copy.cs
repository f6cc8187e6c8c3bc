using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.Storage.Drivers;

namespace Hyperlxd.Storage;

/// <summary>Instance volumes copied from another instance's volume (<c>lxc copy</c>, moves between pools).</summary>
public sealed partial class StoragePool
{
    /// <summary>
    /// Makes instance volume <paramref name="targetName"/> on this pool a copy of <paramref name="sourceName"/>'s
    /// volume on <paramref name="source"/> (or of its snapshot <paramref name="sourceSnapshot"/>), with copies of
    /// the source's snapshots named in <paramref name="snapshots"/> (oldest first). On the same pool the driver
    /// shares blocks (btrfs: subvolume snapshots; dir: reflinks where the filesystem has them); across pools it
    /// is a full copy. Rows first, then host volumes: a crash midway leaves rows whose delete removes everything.
    /// </summary>
    public async Task CopyInstanceVolumeAsync(StoragePool source, string sourceName, string? sourceSnapshot, string targetName,
        InstanceType type, IReadOnlyList<string> snapshots, string size, CancellationToken ct)
    {
        Names.ValidateInstanceName(targetName);
        var samePool = ReferenceEquals(source, this);
        if (type == InstanceType.VirtualMachine && !samePool)
        {
            // A dir VM volume is an overlay of its pool's image volume: it cannot leave that pool as is.
            throw new BadRequestException("Copying or moving a virtual machine to another storage pool is not supported yet");
        }
        var vtype = VolumeTypeOf(type);
        var from = new Volume(vtype, sourceName);
        var to = new Volume(vtype, targetName);
        var sourceRecord = await source._repo.GetVolumeAsync(source.Name, type.ToApi(), sourceName, ct);
        var sourceSnaps = (await source._repo.ListSnapshotsAsync(sourceRecord.Id, ct)).ToDictionary(s => s.Name);
        using var _ = await _locks.AcquireAsync(Key(vtype, targetName), ct);
        await using var revert = new Reverter();
        var applied = SizeApplies(vtype, size, targetName);
        var record = await _repo.CreateVolumeAsync(Name, targetName, type.ToApi(), sourceRecord.Description,
            applied ? new() { ["size"] = size } : new(), "filesystem", ct);
        revert.Add(() => _repo.DeleteVolumeAsync(record.Id, CancellationToken.None)); // its snapshot rows go with it
        revert.Add(() => Driver.DeleteVolumeAsync(to, CancellationToken.None)); // idempotent: also the snapshots copied so far
        foreach (var snap in snapshots)
        {
            var s = sourceSnaps.GetValueOrDefault(snap) ?? throw new NotFoundException($"Snapshot \"{snap}\" of storage volume \"{sourceName}\" not found");
            await _repo.CreateSnapshotAsync(record.Id, snap, s.Description, s.Config, s.ExpiresAt, ct);
            await Driver.CopySnapshotAsync(to, snap, source.Driver.SnapshotPath(from, snap), samePool, ct);
        }
        if (sourceSnapshot is not null && !sourceSnaps.ContainsKey(sourceSnapshot))
        {
            throw new NotFoundException($"Snapshot \"{sourceSnapshot}\" of storage volume \"{sourceName}\" not found");
        }
        var path = sourceSnapshot is null ? source.Driver.VolumePath(from) : source.Driver.SnapshotPath(from, sourceSnapshot);
        await Driver.CopyVolumeAsync(to, path, samePool, ct);
        if (applied)
        {
            await ApplySizeAsync(to, size, ct);
        }
        revert.Success();
    }
}
