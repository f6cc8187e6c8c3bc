using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.State.Repositories;
using StoragePool = Hyperlxd.Storage.StoragePool;

namespace Hyperlxd.Instances;

/// <summary>Copies of instances and snapshots (<c>lxc copy</c>), and moves between pools.</summary>
public sealed partial class InstanceManager
{
    private Task<(InstanceRecord Record, CreateSource Source)> PrepareCopyAsync(InstancesPost req, InstanceType type, InstanceSource source, CancellationToken ct) =>
        throw new BadRequestException("Source type \"copy\" is not supported yet");

    /// <summary>Makes the new instance's root volume (and its snapshots) from the source; each step's undo goes on <paramref name="revert"/>.</summary>
    private Task CreateRootFromCopyAsync(Expanded e, CopyCreateSource copy, StoragePool pool, Reverter revert, CancellationToken ct) =>
        throw new BadRequestException("Source type \"copy\" is not supported yet");
}
