using Hyperlxd.Core;
using Hyperlxd.Core.Config;

namespace Hyperlxd.Storage.Drivers;

/// <summary>
/// LXD's on-disk layout shared by the local drivers: <c>{mount}/{custom|containers|virtual-machines|images}/{name}</c>,
/// snapshots under <c>{type}-snapshots/{name}/{snap}</c>. Custom volumes of a project with its own
/// (<c>features.storage.volumes</c>, key "project/name") live in <c>custom_{project}</c> and
/// <c>custom-snapshots_{project}</c>: no volume name of another project can reach them ('/' is not in volume
/// names, '_' not in project names), where LXD's flat <c>{project}_{name}</c> would collide with the default
/// project's bare names kept here.
/// </summary>
public abstract partial class DriverBase(PoolSpec pool) : IStorageDriver
{
    protected static readonly string[] TypeDirs = { "custom", "containers", "virtual-machines", "images", "custom-snapshots", "containers-snapshots", "virtual-machines-snapshots" };

    public abstract DriverInfo Info { get; }
    public PoolSpec Pool => pool;
    protected Dictionary<string, string> Config => pool.Config;

    /// <summary>Pool keys this driver accepts, with their checks.</summary>
    protected abstract IReadOnlyDictionary<string, Validators.Check> PoolKeys { get; }

    public virtual void FillPoolConfig()
    {
        foreach (var (key, value) in Config)
        {
            if (IsUserKey(key))
            {
                continue;
            }
            if (!PoolKeys.TryGetValue(key, out var check))
            {
                throw new BadRequestException($"Invalid storage pool configuration key \"{key}\" for driver \"{Info.Name}\"");
            }
            if (value.Length > 0 && check(value) is { } err)
            {
                throw new BadRequestException($"Invalid value for storage pool key \"{key}\": {err}");
            }
        }
    }

    public virtual void ValidatePoolUpdate(IReadOnlyDictionary<string, string> changed)
    {
        foreach (var key in changed.Keys)
        {
            if (IsUserKey(key))
            {
                continue;
            }
            if (!PoolKeys.ContainsKey(key))
            {
                throw new BadRequestException($"Invalid storage pool configuration key \"{key}\" for driver \"{Info.Name}\"");
            }
            throw new BadRequestException($"Storage pool key \"{key}\" cannot be changed on an existing pool");
        }
    }

    /// <summary>Free-form <c>user.*</c> keys: any driver, any time, as LXD (a name after the dot, no control characters).</summary>
    public static bool IsUserKey(string key)
    {
        if (!key.StartsWith("user.", StringComparison.Ordinal))
        {
            return false;
        }
        if (key.Length == "user.".Length || key.Any(char.IsControl))
        {
            throw new BadRequestException($"Invalid storage pool configuration key \"{key}\"");
        }
        return true;
    }

    public virtual void ValidateVolumeConfig(IReadOnlyDictionary<string, string> config)
    {
    }

    public abstract Task CreatePoolAsync(CancellationToken ct);
    public abstract Task MountPoolAsync(CancellationToken ct);
    public abstract Task UnmountPoolAsync(CancellationToken ct);
    public abstract Task DeletePoolAsync(CancellationToken ct);

    protected static string TypeDir(VolumeType t) => t switch
    {
        VolumeType.Custom => "custom",
        VolumeType.Container => "containers",
        VolumeType.VirtualMachine => "virtual-machines",
        _ => "images",
    };

    private const string ProjectSeparator = "_";

    /// <summary>The directory holding <paramref name="v"/> (or its snapshot directories) and its name in it.</summary>
    private (string Dir, string Leaf) Place(Volume v, bool snapshots)
    {
        var dir = TypeDir(v.Type) + (snapshots ? "-snapshots" : "");
        if (v.Type == VolumeType.Custom && ProjectKeys.SplitScoped(v.Name) is { Project: not ProjectKeys.Default } key)
        {
            return (Path.Combine(pool.MountPath, dir + ProjectSeparator + key.Project), key.Name);
        }
        return (Path.Combine(pool.MountPath, dir), v.Name);
    }

    public string VolumePath(Volume v) => Place(v, snapshots: false) is var (dir, leaf) ? Path.Combine(dir, leaf) : "";

    public string SnapshotPath(Volume v, string snapshot) => Place(v, snapshots: true) is var (dir, leaf) ? Path.Combine(dir, leaf, snapshot) : "";

    /// <summary>Where a volume about to be made goes, its project's type directory made first (0700, as <c>custom/</c>).</summary>
    protected string NewVolumePath(Volume v)
    {
        EnsureOwnerOnly(Place(v, snapshots: false).Dir);
        return VolumePath(v);
    }

    /// <summary>The type directories of projects with their own custom volumes (a type directory name with the separator).</summary>
    private IEnumerable<string> ProjectTypeDirs() =>
        Directory.Exists(pool.MountPath)
            ? Directory.EnumerateDirectories(pool.MountPath).Where(d => Path.GetFileName(d).Contains(ProjectSeparator, StringComparison.Ordinal))
            : [];


    protected void DeleteLayout()
    {
        foreach (var p in TypeDirs.Select(d => Path.Combine(pool.MountPath, d)).Concat(ProjectTypeDirs().ToList()))
        {
            if (Directory.Exists(p))
            {
                Directory.Delete(p, recursive: true);
            }
        }
    }

    public abstract Task CreateVolumeAsync(Volume v, CancellationToken ct);
    public abstract Task CreateVolumeFromCopyAsync(Volume target, Volume source, CancellationToken ct);
    public abstract Task SetReadOnlyAsync(Volume v, CancellationToken ct);
    public abstract Task DeleteVolumeAsync(Volume v, CancellationToken ct);

    public virtual Task RenameVolumeAsync(Volume v, string newName, CancellationToken ct)
    {
        var renamed = v with { Name = newName };
        Directory.Move(VolumePath(v), VolumePath(renamed));
        var snaps = Path.GetDirectoryName(SnapshotPath(v, "x"))!;
        if (Directory.Exists(snaps))
        {
            Directory.Move(snaps, Path.GetDirectoryName(SnapshotPath(renamed, "x"))!);
        }
        return Task.CompletedTask;
    }

    public virtual Task SetQuotaAsync(Volume v, string size, CancellationToken ct) =>
        throw new BadRequestException($"Quotas are not supported by the {Info.Name} driver");

    public virtual long? VolumeUsage(Volume v) => null;

    public abstract Task CreateSnapshotAsync(Volume v, string snapshot, CancellationToken ct);
    public abstract Task DeleteSnapshotAsync(Volume v, string snapshot, CancellationToken ct);

    public virtual Task RenameSnapshotAsync(Volume v, string snapshot, string newName, CancellationToken ct)
    {
        Directory.Move(SnapshotPath(v, snapshot), SnapshotPath(v, newName));
        return Task.CompletedTask;
    }

    public abstract Task RestoreSnapshotAsync(Volume v, string snapshot, CancellationToken ct);
    public abstract Task CopyVolumeAsync(Volume target, string sourcePath, bool samePool, CancellationToken ct);
    public abstract Task CopySnapshotAsync(Volume target, string snapshot, string sourcePath, bool samePool, CancellationToken ct);

    /// <summary>Removes a volume's snapshot directory once its last snapshot is gone.</summary>
    protected void PruneSnapshotDir(Volume v)
    {
        var dir = Path.GetDirectoryName(SnapshotPath(v, "x"))!;
        if (Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any())
        {
            Directory.Delete(dir);
        }
    }
}
