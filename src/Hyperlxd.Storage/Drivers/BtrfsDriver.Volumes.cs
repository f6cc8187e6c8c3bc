using Hyperlxd.Core;
using Hyperlxd.Core.Config;

namespace Hyperlxd.Storage.Drivers;

/// <summary>btrfs volumes are subvolumes; copies and snapshots are subvolume snapshots.</summary>
public sealed partial class BtrfsDriver
{
    public override async Task CreateVolumeAsync(Volume v, CancellationToken ct)
    {
        await Host.RunAsync("btrfs", "-q", "subvolume", "create", NewVolumePath(v));
        await SecureOrDeleteAsync(v);
    }

    public override async Task CreateVolumeFromCopyAsync(Volume target, Volume source, CancellationToken ct)
    {
        await Host.RunAsync("btrfs", "-q", "subvolume", "snapshot", VolumePath(source), NewVolumePath(target));
        await SecureOrDeleteAsync(target);
    }

    /// <summary>A subvolume that cannot get its mode is not handed out.</summary>
    private async Task SecureOrDeleteAsync(Volume v)
    {
        try
        {
            SecureVolume(v);
        }
        catch
        {
            await DeleteSubvolumeAsync(VolumePath(v));
            throw;
        }
    }

    public override Task SetReadOnlyAsync(Volume v, CancellationToken ct) =>
        Host.RunAsync("btrfs", "property", "set", "-ts", VolumePath(v), "ro", "true");

    public override async Task DeleteVolumeAsync(Volume v, CancellationToken ct)
    {
        var snaps = Path.GetDirectoryName(SnapshotPath(v, "x"))!;
        if (Directory.Exists(snaps))
        {
            foreach (var s in Directory.GetDirectories(snaps))
            {
                await DeleteSubvolumeAsync(s);
            }
            Directory.Delete(snaps);
        }
        await DeleteSubvolumeAsync(VolumePath(v));
    }

    private static async Task DeleteSubvolumeAsync(string path)
    {
        if (Directory.Exists(path))
        {
            await Host.RunAsync("btrfs", "-q", "subvolume", "delete", path);
        }
    }

    /// <summary>
    /// The subvolume's qgroup limit, set through the pool's root by qgroup id: a subvolume already
    /// over its limit (lowered below its use, or restored from a fuller snapshot) refuses a change
    /// made through its own path with EDQUOT, so it could never be raised again.
    /// </summary>
    public override async Task SetQuotaAsync(Volume v, string size, CancellationToken ct)
    {
        long? bytes = size.Length == 0 ? null
            : Validators.ParseSize(size) ?? throw new BadRequestException($"Invalid value for volume key \"size\": must be a size such as 512MiB or 2GB");
        if (!await QuotasEnabledAsync())
        {
            if (bytes is null)
            {
                return;
            }
            await Host.RunAsync("btrfs", "quota", "enable", Pool.MountPath);
        }
        var id = BtrfsUsage.SubvolumeId(VolumePath(v)) ?? throw new InvalidOperationException($"{VolumePath(v)} is not a btrfs subvolume");
        var limit = bytes?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none";
        await Host.RunAsync("btrfs", "qgroup", "limit", limit, $"0/{id}", Pool.MountPath);
    }

    public override long? VolumeUsage(Volume v) => BtrfsUsage.Referenced(VolumePath(v));

    private async Task<bool> QuotasEnabledAsync()
    {
        try
        {
            await Host.RunAsync("btrfs", "qgroup", "show", Pool.MountPath);
            return true;
        }
        catch (HostCommandException)
        {
            return false;
        }
    }

    public override async Task CreateSnapshotAsync(Volume v, string snapshot, CancellationToken ct)
    {
        var path = PrepareSnapshotPath(v, snapshot);
        try
        {
            await Host.RunAsync("btrfs", "-q", "subvolume", "snapshot", "-r", VolumePath(v), path);
        }
        catch
        {
            PruneSnapshotDir(v);
            throw;
        }
    }

    public override async Task DeleteSnapshotAsync(Volume v, string snapshot, CancellationToken ct)
    {
        await DeleteSubvolumeAsync(SnapshotPath(v, snapshot));
        PruneSnapshotDir(v);
    }

    /// <summary>Snapshots the snapshot to a new writable subvolume, then swaps it in (the old volume goes only once the new one exists).</summary>
    public override async Task RestoreSnapshotAsync(Volume v, string snapshot, CancellationToken ct)
    {
        var path = VolumePath(v);
        var incoming = path + ".restore";
        await DeleteSubvolumeAsync(incoming);
        await Host.RunAsync("btrfs", "-q", "subvolume", "snapshot", SnapshotPath(v, snapshot), incoming);
        var old = path + ".old";
        Directory.Move(path, old);
        Directory.Move(incoming, path);
        SecureVolume(v);
        await DeleteSubvolumeAsync(old);
    }
}
