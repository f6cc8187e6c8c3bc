using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.State.Repositories;
using Hyperlxd.Storage.Drivers;

namespace Hyperlxd.Storage;

/// <summary>What instance backups need of a pool: the directories to archive, and an empty volume to unpack one into.</summary>
public sealed partial class StoragePool
{
    /// <summary>Where the snapshot <paramref name="snapshot"/> of an instance's root volume is (read-only use: backups and publish archive it).</summary>
    public string InstanceSnapshotPath(string instanceName, InstanceType type, string snapshot) =>
        Driver.SnapshotPath(new Volume(VolumeTypeOf(type), instanceName), snapshot);

    /// <summary>
    /// Creates an empty root volume (record and host volume) for an instance restored from a backup, and
    /// returns its path; <paramref name="size"/> as for <see cref="CreateInstanceVolumeFromImageAsync"/>.
    /// </summary>
    public async Task<string> CreateEmptyInstanceVolumeAsync(string instanceName, InstanceType type, string size, CancellationToken ct)
    {
        Names.ValidateInstanceName(instanceName);
        var vtype = VolumeTypeOf(type);
        var applied = SizeApplies(vtype, size, instanceName);
        await CreateVolumeAsync(vtype, instanceName, "", applied ? new() { ["size"] = size } : new(), "filesystem", ct);
        return Driver.VolumePath(new Volume(vtype, instanceName));
    }
}

/// <summary>Optimized (driver-native) backups of instance volumes, where the driver has a format of its own.</summary>
public sealed partial class StoragePool
{
    /// <summary>Whether <c>optimized_storage</c> backups exist here (btrfs); elsewhere they fall back to the portable tarball, as LXD.</summary>
    public bool HasOptimizedBackups => Driver is IOptimizedBackups;

    /// <summary>Writes the driver's streams of an instance's root volume: each snapshot (oldest first) to its file, the volume to <paramref name="volumeFile"/>.</summary>
    public Task SendInstanceVolumeAsync(string instanceName, InstanceType type, IReadOnlyList<(string Snapshot, string File)> snapshots, string volumeFile, CancellationToken ct) =>
        OptimizedDriver.SendAsync(new Volume(VolumeTypeOf(type), instanceName), snapshots, volumeFile, ct);

    /// <summary>
    /// Creates an instance's root volume and its snapshots (records and host volumes) from the driver's streams,
    /// as written by <see cref="SendInstanceVolumeAsync"/> on some host; nothing is left when it throws.
    /// </summary>
    public Task CreateInstanceVolumeFromStreamsAsync(string instanceName, InstanceType type, string size,
        IReadOnlyList<(string Snapshot, string File)> snapshots, string volumeFile, CancellationToken ct)
    {
        Names.ValidateInstanceName(instanceName);
        var vtype = VolumeTypeOf(type);
        var applied = SizeApplies(vtype, size, instanceName);
        return CreateVolumeFromStreamsAsync(vtype, instanceName, "", applied ? new() { ["size"] = size } : new(),
            snapshots.Select(s => new ImportedSnapshot(s.Snapshot, "", null, s.File)).ToList(), volumeFile, ct);
    }

    /// <summary>A custom volume and its snapshots from the driver's streams (an optimized volume backup).</summary>
    public Task<VolumeRecord> CreateCustomVolumeFromStreamsAsync(string name, string description, Dictionary<string, string> config,
        IReadOnlyList<ImportedSnapshot> snapshots, string volumeFile, CancellationToken ct)
    {
        Names.ValidateVolumeKey(name);
        ValidateVolumeConfig(config);
        return CreateVolumeFromStreamsAsync(VolumeType.Custom, name, description, config, snapshots, volumeFile, ct);
    }

    private async Task<VolumeRecord> CreateVolumeFromStreamsAsync(VolumeType vtype, string name, string description, Dictionary<string, string> config,
        IReadOnlyList<ImportedSnapshot> snapshots, string volumeFile, CancellationToken ct)
    {
        var driver = OptimizedDriver;
        using var _ = await _locks.AcquireAsync(Key(vtype, name), ct);
        await using var revert = new Reverter();
        var record = await _repo.CreateVolumeAsync(Name, name, TypeName(vtype), description, config, "filesystem", ct);
        revert.Add(() => _repo.DeleteVolumeAsync(record.Id, CancellationToken.None)); // its snapshot rows go with it
        foreach (var s in snapshots)
        {
            Names.ValidateEntityName("snapshot", s.Name);
            await _repo.CreateSnapshotAsync(record.Id, s.Name, s.Description, record.Config, s.ExpiresAt, ct);
        }
        var vol = new Volume(vtype, name);
        await driver.ReceiveAsync(vol, snapshots.Select(s => (s.Name, s.File)).ToList(), volumeFile, ct);
        revert.Add(() => Driver.DeleteVolumeAsync(vol, CancellationToken.None));
        if (config.GetValueOrDefault("size") is { Length: > 0 } size)
        {
            await Driver.SetQuotaAsync(vol, size, ct);
        }
        revert.Success();
        return record;
    }

    /// <summary>Writes the driver's streams of a custom volume (see <see cref="SendInstanceVolumeAsync"/>).</summary>
    public Task SendCustomVolumeAsync(string name, IReadOnlyList<(string Snapshot, string File)> snapshots, string volumeFile, CancellationToken ct) =>
        OptimizedDriver.SendAsync(new Volume(VolumeType.Custom, name), snapshots, volumeFile, ct);

    /// <summary>Where a custom volume's snapshot is (read-only use: backups archive it).</summary>
    public string CustomSnapshotPath(string name, string snapshot) => Driver.SnapshotPath(new Volume(VolumeType.Custom, name), snapshot);

    private IOptimizedBackups OptimizedDriver => Driver as IOptimizedBackups
        ?? throw new BadRequestException($"Storage pool \"{Name}\" (driver {Info.Name}) has no optimized backup format");
}

/// <summary>A snapshot restored from a backup: its row's fields and, for an optimized backup, the file holding its stream.</summary>
public sealed record ImportedSnapshot(string Name, string Description, DateTimeOffset? ExpiresAt, string File);
