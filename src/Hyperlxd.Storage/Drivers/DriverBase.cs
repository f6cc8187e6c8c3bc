using Hyperlxd.Core;
using Hyperlxd.Core.Config;

namespace Hyperlxd.Storage.Drivers;

/// <summary>LXD's on-disk layout shared by the local drivers: <c>{mount}/{custom|containers|virtual-machines|images}/{name}</c>, snapshots under <c>{type}-snapshots/{name}/{snap}</c>.</summary>
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

    public string VolumePath(Volume v) => Path.Combine(pool.MountPath, TypeDir(v.Type), v.Name);

    public string SnapshotPath(Volume v, string snapshot) => Path.Combine(pool.MountPath, TypeDir(v.Type) + "-snapshots", v.Name, snapshot);


    protected void DeleteLayout()
    {
        foreach (var d in TypeDirs)
        {
            var p = Path.Combine(pool.MountPath, d);
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
