namespace Hyperlxd.Storage.Drivers;

/// <summary>What a backend can do; the pool tier decides by these flags, never by driver names.</summary>
/// <param name="OptimizedImages">Cached images are kept as read-only volumes that instances are cheap snapshots of.</param>
/// <param name="Quotas">Volumes accept a <c>size</c> limit.</param>
/// <param name="SnapshotsAreCheap">Snapshots share blocks with their volume (no full copy).</param>
/// <param name="Remote">The pool lives on shared storage reachable from several hosts.</param>
public sealed record DriverInfo(string Name, string Version, bool OptimizedImages, bool Quotas, bool SnapshotsAreCheap, bool Remote);

/// <summary>Whether a driver can run on this host, and why not.</summary>
public sealed record DriverStatus(string Name, bool Available, string Version, bool Remote, string Reason);

public enum VolumeType { Custom, Container, VirtualMachine, Image }

/// <summary>A volume as a backend sees it: where it lives is the driver's business.</summary>
public sealed record Volume(VolumeType Type, string Name);

/// <summary>The pool a driver instance is bound to.</summary>
public sealed record PoolSpec(string Name, Dictionary<string, string> Config, StoragePaths Paths)
{
    public string MountPath => Paths.PoolMount(Name);
}

/// <summary>Where pools live under the state dir (LXD's layout).</summary>
public sealed record StoragePaths(string StateDir)
{
    public string PoolMount(string pool) => Path.Combine(StateDir, "storage-pools", pool);
    public string Disk(string pool) => Path.Combine(StateDir, "disks", pool + ".img");
}

/// <summary>
/// A storage backend bound to one pool (LXD's storage/drivers). Every method is idempotent where it
/// can be, and leaves nothing behind when it throws.
/// </summary>
public interface IStorageDriver
{
    DriverInfo Info { get; }
    PoolSpec Pool { get; }

    /// <summary>Checks a new pool's config, naming the bad key, and fills defaults (source, size) into it.</summary>
    void FillPoolConfig();

    /// <summary>Checks which pool keys may change on a created pool.</summary>
    void ValidatePoolUpdate(IReadOnlyDictionary<string, string> changed);

    /// <summary>Checks a volume's driver-specific config keys.</summary>
    void ValidateVolumeConfig(IReadOnlyDictionary<string, string> config);

    /// <summary>Creates the pool on the host and leaves it mounted.</summary>
    Task CreatePoolAsync(CancellationToken ct);
    Task MountPoolAsync(CancellationToken ct);
    /// <summary>Creates missing layout directories and corrects the modes that keep host users out of volumes (each mount at startup).</summary>
    void SecureLayout();
    /// <summary>Gives a freshly unpacked image volume its modes (before <see cref="SetReadOnlyAsync"/>).</summary>
    void SecureImageVolume(Volume image);
    Task UnmountPoolAsync(CancellationToken ct);
    /// <summary>Unmounts and removes what <see cref="CreatePoolAsync"/> made.</summary>
    Task DeletePoolAsync(CancellationToken ct);

    string VolumePath(Volume v);
    string SnapshotPath(Volume v, string snapshot);

    Task CreateVolumeAsync(Volume v, CancellationToken ct);
    /// <summary>Makes <paramref name="target"/> a writable copy of <paramref name="source"/> (snapshot or reflink copy).</summary>
    Task CreateVolumeFromCopyAsync(Volume target, Volume source, CancellationToken ct);
    /// <summary>Freezes a filled image volume so instances can share it.</summary>
    Task SetReadOnlyAsync(Volume v, CancellationToken ct);
    Task DeleteVolumeAsync(Volume v, CancellationToken ct);
    Task RenameVolumeAsync(Volume v, string newName, CancellationToken ct);
    /// <summary>Applies a <c>size</c> limit (empty: none); only called when <see cref="DriverInfo.Quotas"/>.</summary>
    Task SetQuotaAsync(Volume v, string size, CancellationToken ct);

    /// <summary>Bytes the volume uses, where the backend accounts it cheaply (null: not supported, as LXD's dir without project quotas).</summary>
    long? VolumeUsage(Volume v);

    Task CreateSnapshotAsync(Volume v, string snapshot, CancellationToken ct);
    Task DeleteSnapshotAsync(Volume v, string snapshot, CancellationToken ct);
    Task RenameSnapshotAsync(Volume v, string snapshot, string newName, CancellationToken ct);
    Task RestoreSnapshotAsync(Volume v, string snapshot, CancellationToken ct);

    /// <summary>
    /// Makes writable volume <paramref name="target"/> a copy of the tree at <paramref name="sourcePath"/> (a volume or
    /// snapshot; of this same pool when <paramref name="samePool"/>, so blocks can be shared), keeping owners, modes,
    /// xattrs, device nodes and hard links. Leaves nothing behind when it throws.
    /// </summary>
    Task CopyVolumeAsync(Volume target, string sourcePath, bool samePool, CancellationToken ct);
    /// <summary>Makes snapshot <paramref name="snapshot"/> of <paramref name="target"/> a copy of the tree at <paramref name="sourcePath"/> (as <see cref="CopyVolumeAsync"/>).</summary>
    Task CopySnapshotAsync(Volume target, string snapshot, string sourcePath, bool samePool, CancellationToken ct);
}

/// <summary>
/// A backend with its own backup format (LXD's <c>optimized_storage</c>): one stream per snapshot, oldest
/// first and each relative to the one before, then one for the volume.
/// </summary>
public interface IOptimizedBackups
{
    /// <summary>Writes the streams of <paramref name="v"/>: each snapshot's to its file, the volume's to <paramref name="volumeFile"/>.</summary>
    Task SendAsync(Volume v, IReadOnlyList<(string Snapshot, string File)> snapshots, string volumeFile, CancellationToken ct);

    /// <summary>Makes volume <paramref name="v"/> (absent) and its snapshots from such streams, which are untrusted; leaves nothing when it throws.</summary>
    Task ReceiveAsync(Volume v, IReadOnlyList<(string Snapshot, string File)> snapshots, string volumeFile, CancellationToken ct);
}
