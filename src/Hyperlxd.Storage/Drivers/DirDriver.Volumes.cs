namespace Hyperlxd.Storage.Drivers;

/// <summary>dir volumes and snapshots: directories and (reflink) copies of them.</summary>
public sealed partial class DirDriver
{
    public override Task CreateVolumeAsync(Volume v, CancellationToken ct)
    {
        var path = NewVolumePath(v);
        if (Directory.Exists(path))
        {
            throw new IOException($"Volume path \"{path}\" already exists");
        }
        Directory.CreateDirectory(path);
        SecureVolume(v);
        return Task.CompletedTask;
    }

    public override async Task CreateVolumeFromCopyAsync(Volume target, Volume source, CancellationToken ct)
    {
        var path = NewVolumePath(target);
        try
        {
            if (IsVmImage(target, source))
            {
                await CreateVmOverlayVolumeAsync(target, source);
                return;
            }
            await Host.CopyTreeAsync(VolumePath(source), path);
            SecureVolume(target);
        }
        catch
        {
            Host.DeleteTree(path);
            throw;
        }
    }

    // Plain directories have no cheap read-only flag; image volumes are never handed out writable anyway.
    public override Task SetReadOnlyAsync(Volume v, CancellationToken ct) => Task.CompletedTask;

    public override Task DeleteVolumeAsync(Volume v, CancellationToken ct)
    {
        Host.DeleteTree(Path.GetDirectoryName(SnapshotPath(v, "x"))!);
        Host.DeleteTree(VolumePath(v));
        return Task.CompletedTask;
    }

    public override async Task CreateSnapshotAsync(Volume v, string snapshot, CancellationToken ct)
    {
        var path = PrepareSnapshotPath(v, snapshot);
        try
        {
            await Host.CopyTreeAsync(VolumePath(v), path);
        }
        catch
        {
            Host.DeleteTree(path);
            PruneSnapshotDir(v);
            throw;
        }
    }

    public override Task DeleteSnapshotAsync(Volume v, string snapshot, CancellationToken ct)
    {
        Host.DeleteTree(SnapshotPath(v, snapshot));
        PruneSnapshotDir(v);
        return Task.CompletedTask;
    }

    /// <summary>Copies the snapshot next to the volume first, then swaps, so a failed copy leaves the volume as it was.</summary>
    public override async Task RestoreSnapshotAsync(Volume v, string snapshot, CancellationToken ct)
    {
        var path = VolumePath(v);
        var incoming = path + ".restore";
        Host.DeleteTree(incoming);
        try
        {
            await Host.CopyTreeAsync(SnapshotPath(v, snapshot), incoming);
        }
        catch
        {
            Host.DeleteTree(incoming);
            throw;
        }
        var old = path + ".old";
        Directory.Move(path, old);
        Directory.Move(incoming, path);
        SecureVolume(v);
        Host.DeleteTree(old);
    }
}
