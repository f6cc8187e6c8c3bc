namespace Hyperlxd.Storage.Drivers;

/// <summary>
/// Copies of volumes and snapshots on dir: <c>cp -a --reflink=auto</c> (owners, modes, xattrs, device nodes and
/// hard links kept; blocks shared where the filesystem can). A VM volume's overlay keeps naming the same image
/// volume's disk as its backing file, which therefore stays in use (<see cref="StoragePool.EvictImageAsync"/>).
/// </summary>
public sealed partial class DirDriver
{
    public override async Task CopyVolumeAsync(Volume target, string sourcePath, bool samePool, CancellationToken ct)
    {
        var path = NewVolumePath(target);
        if (Directory.Exists(path))
        {
            throw new IOException($"Volume path \"{path}\" already exists");
        }
        try
        {
            await Host.CopyTreeAsync(sourcePath, path);
            SecureVolume(target);
        }
        catch
        {
            Host.DeleteTree(path);
            throw;
        }
    }

    public override async Task CopySnapshotAsync(Volume target, string snapshot, string sourcePath, bool samePool, CancellationToken ct)
    {
        var path = PrepareSnapshotPath(target, snapshot);
        try
        {
            await Host.CopyTreeAsync(sourcePath, path);
        }
        catch
        {
            Host.DeleteTree(path);
            PruneSnapshotDir(target);
            throw;
        }
    }
}
