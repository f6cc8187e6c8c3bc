using Hyperlxd.Core.Instances;
using Hyperlxd.Storage.Drivers;

namespace Hyperlxd.Storage;

public sealed partial class StoragePool
{
    /// <summary>Where a snapshot of an instance's root volume lies on the host (read by a publish).</summary>
    public string InstanceSnapshotPath(string instanceName, InstanceType type, string snapshot) =>
        Driver.SnapshotPath(new Volume(VolumeTypeOf(type), instanceName), snapshot);
}
