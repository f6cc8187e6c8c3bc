namespace Hyperlxd.Storage.Drivers;

/// <summary>
/// Copies on btrfs: within the pool a subvolume snapshot of the source (instant, every block shared);
/// from another pool a new subvolume filled by <c>cp -a</c>. Snapshots stay read-only subvolumes.
/// </summary>
public sealed partial class BtrfsDriver
{
    public override async Task CopyVolumeAsync(Volume target, string sourcePath, bool samePool, CancellationToken ct)
    {
        await CopySubvolumeAsync(sourcePath, NewVolumePath(target), samePool, readOnly: false);
        await SecureOrDeleteAsync(target);
    }

    public override async Task CopySnapshotAsync(Volume target, string snapshot, string sourcePath, bool samePool, CancellationToken ct)
    {
        var path = PrepareSnapshotPath(target, snapshot);
        try
        {
            await CopySubvolumeAsync(sourcePath, path, samePool, readOnly: true);
        }
        catch
        {
            PruneSnapshotDir(target);
            throw;
        }
    }

    private static async Task CopySubvolumeAsync(string sourcePath, string path, bool samePool, bool readOnly)
    {
        if (samePool)
        {
            string[] args = readOnly ? ["-q", "subvolume", "snapshot", "-r", sourcePath, path] : ["-q", "subvolume", "snapshot", sourcePath, path];
            await Host.RunAsync("btrfs", args);
            return;
        }
        await Host.RunAsync("btrfs", "-q", "subvolume", "create", path);
        try
        {
            await Host.CopyTreeAsync(sourcePath + "/.", path);
            if (readOnly)
            {
                await Host.RunAsync("btrfs", "property", "set", "-ts", path, "ro", "true");
            }
        }
        catch
        {
            await DeleteSubvolumeAsync(path);
            throw;
        }
    }
}
