using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
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
