using Hyperlxd.Core.Instances;

namespace Hyperlxd.Containers;

/// <summary>The parts of the driver contract that exist for the instance layer's sake (features, rename).</summary>
public sealed partial class ContainerDriver
{
    /// <summary>Containers have it all: a pty and signals through nsexec, files through the broker, the monitor's console.</summary>
    public DriverFeatures Features => DriverFeatures.All;

    /// <summary>
    /// A stopped container keeps nothing by name outside its state directory but the exit record and a
    /// stale socket: dropped, as before (the renamed instance starts without a last exit). Snapshots need
    /// no hook: LXD does not freeze a container for a dir or btrfs snapshot either.
    /// </summary>
    public Task RenameAsync(InstanceSpec spec, string newName, CancellationToken ct)
    {
        Forget(spec);
        return Task.CompletedTask;
    }
}
