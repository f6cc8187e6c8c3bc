using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.State.Repositories;
using Hyperlxd.Storage.Drivers;

namespace Hyperlxd.Storage;

/// <summary>Volumes copied from another volume: instances' (<c>lxc copy</c>, moves between pools) and custom ones (<c>lxc storage volume copy/move</c>).</summary>
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
        var vtype = VolumeTypeOf(type);
        var sourceRecord = await source._repo.GetVolumeAsync(source.Name, type.ToApi(), sourceName, ct);
        var applied = SizeApplies(vtype, size, targetName);
        await CopyVolumeAsync(source, sourceRecord, sourceSnapshot, vtype, targetName, sourceRecord.Description,
            applied ? new() { ["size"] = size } : new(), snapshots, ct);
    }

    /// <summary>
    /// <c>lxc storage volume copy</c> (and a move to another pool): custom volume <paramref name="targetName"/> on this
    /// pool from <paramref name="sourceVolume"/> on <paramref name="source"/> or its snapshot <paramref name="sourceSnapshot"/>,
    /// with copies of all its snapshots unless <paramref name="volumeOnly"/> (a copy of a snapshot has none, as in LXD).
    /// </summary>
    public async Task<VolumeRecord> CopyCustomVolumeAsync(StoragePool source, VolumeRecord sourceVolume, string? sourceSnapshot, string targetName,
        string description, Dictionary<string, string> config, bool volumeOnly, CancellationToken ct)
    {
        Names.ValidateVolumeKey(targetName);
        // volatile.* keys are the server's (lxc sends the source's back): the copy holds the source's data as it is
        // shifted, so it takes the source's id map keys whatever the request says.
        config = WithoutVolatile(config);
        ValidateVolumeConfig(config);
        foreach (var (key, value) in sourceVolume.Config.Where(kv => kv.Key.StartsWith("volatile.idmap.", StringComparison.Ordinal)))
        {
            config[key] = value;
        }
        if (await _repo.FindVolumeAsync(Name, "custom", targetName, ct) is not null)
        {
            throw new ConflictException($"Volume by that name already exists");
        }
        var snapshots = volumeOnly || sourceSnapshot is not null ? [] : (await source._repo.ListSnapshotsAsync(sourceVolume.Id, ct)).Select(s => s.Name).ToList();
        return await CopyVolumeAsync(source, sourceVolume, sourceSnapshot, VolumeType.Custom, targetName, description, config, snapshots, ct);
    }

    /// <summary>
    /// The copy itself: on the same pool the driver shares blocks (btrfs: subvolume snapshots; dir: reflinks where the
    /// filesystem has them); across pools it is a full copy. Rows first, then host volumes: a crash midway leaves rows
    /// whose delete removes everything.
    /// </summary>
    private async Task<VolumeRecord> CopyVolumeAsync(StoragePool source, VolumeRecord sourceRecord, string? sourceSnapshot, VolumeType vtype, string targetName,
        string description, Dictionary<string, string> config, IReadOnlyList<string> snapshots, CancellationToken ct)
    {
        var samePool = ReferenceEquals(source, this);
        // A VM disk on dir is an overlay of its own pool's image volume: it leaves that pool flattened.
        var flatten = vtype == VolumeType.VirtualMachine && !samePool;
        var from = new Volume(vtype, sourceRecord.Name);
        var to = new Volume(vtype, targetName);
        var sourceSnaps = (await source._repo.ListSnapshotsAsync(sourceRecord.Id, ct)).ToDictionary(s => s.Name);
        using var _ = await _locks.AcquireAsync(Key(vtype, targetName), ct);
        await using var revert = new Reverter();
        var record = await _repo.CreateVolumeAsync(Name, targetName, TypeName(vtype), description, config, "filesystem", ct);
        revert.Add(() => _repo.DeleteVolumeAsync(record.Id, CancellationToken.None)); // its snapshot rows go with it
        revert.Add(() => Driver.DeleteVolumeAsync(to, CancellationToken.None)); // idempotent: also the snapshots copied so far
        foreach (var snap in snapshots)
        {
            var s = sourceSnaps.GetValueOrDefault(snap) ?? throw new NotFoundException($"Snapshot \"{snap}\" of storage volume \"{ProjectKeys.SplitScoped(sourceRecord.Name).Name}\" not found");
            await _repo.CreateSnapshotAsync(record.Id, snap, s.Description, s.Config, s.ExpiresAt, ct);
            var snapPath = source.Driver.SnapshotPath(from, snap);
            await (flatten ? FlattenedAsync(snapPath, staged => Driver.CopySnapshotAsync(to, snap, staged, false, ct))
                : Driver.CopySnapshotAsync(to, snap, snapPath, samePool, ct));
        }
        if (sourceSnapshot is not null && !sourceSnaps.ContainsKey(sourceSnapshot))
        {
            throw new NotFoundException($"Snapshot \"{sourceSnapshot}\" of storage volume \"{ProjectKeys.SplitScoped(sourceRecord.Name).Name}\" not found");
        }
        var path = sourceSnapshot is null ? source.Driver.VolumePath(from) : source.Driver.SnapshotPath(from, sourceSnapshot);
        await (flatten ? FlattenedAsync(path, staged => Driver.CopyVolumeAsync(to, staged, false, ct)) : Driver.CopyVolumeAsync(to, path, samePool, ct));
        if (config.GetValueOrDefault("size") is { Length: > 0 } size)
        {
            await ApplySizeAsync(to, size, ct);
        }
        revert.Success();
        return record;
    }

    private const string StagingPrefix = ".vmcopy-";

    /// <summary>
    /// Runs <paramref name="copy"/> on a staged copy of VM volume directory <paramref name="path"/> whose disk stands
    /// alone (<c>qemu-img convert</c>: no backing file on the source pool's image volume), staged on this pool.
    /// </summary>
    private async Task FlattenedAsync(string path, Func<string, Task> copy)
    {
        var staging = Path.Combine(Driver.Pool.MountPath, StagingPrefix + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(staging, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(path).Where(e => Path.GetFileName(e) != VmDisk.FileName))
            {
                await Host.CopyTreeAsync(entry, Path.Combine(staging, Path.GetFileName(entry)));
            }
            await VmDisk.FlattenAsync(VmDisk.PathIn(path), VmDisk.PathIn(staging));
            await copy(staging);
        }
        finally
        {
            Host.DeleteTree(staging);
        }
    }

    /// <summary>What a daemon killed during a cross-pool VM copy left on this pool.</summary>
    internal void SweepStaging()
    {
        foreach (var dir in Directory.Exists(Driver.Pool.MountPath) ? Directory.GetDirectories(Driver.Pool.MountPath, StagingPrefix + "*") : [])
        {
            Host.DeleteTree(dir);
        }
    }
}
