using Hyperlxd.State.Repositories;

namespace Hyperlxd.Instances.Backups;

/// <summary>
/// A backup tarball uploaded for import (<c>lxc import</c>), already checked whole: the snapshots to
/// recreate, oldest first, each with the record its index gave. <paramref name="Optimized"/>: the volumes are
/// the pool driver's streams (btrfs send), not trees.
/// </summary>
public sealed record BackupCreateSource(string File, IReadOnlyList<InstanceRecord> Snapshots, bool Optimized = false) : CreateSource
{
    public override string ToString() => "backup";
}
