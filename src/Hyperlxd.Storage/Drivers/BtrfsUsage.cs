using Hyperlxd.Interop.Linux;

namespace Hyperlxd.Storage.Drivers;

/// <summary>
/// A subvolume's space from its qgroup, read the cheap way (instance state asks on every
/// <c>lxc list</c>): two ioctls for the subvolume id and the filesystem id, then the kernel's
/// sysfs copy of the qgroup counters. Null when quotas are off (no qgroup accounting), as LXD.
/// </summary>
internal static class BtrfsUsage
{
    /// <summary>"Referenced" bytes of the subvolume at <paramref name="path"/> (LXD's btrfs usage).</summary>
    public static long? Referenced(string path)
    {
        using var dir = Syscalls.TryOpenDirectory(path);
        if (dir is null || Btrfs.SubvolumeId(dir) is not { } subvolume || Btrfs.FilesystemId(dir) is not { } fsid)
        {
            return null;
        }
        var file = $"/sys/fs/btrfs/{fsid:D}/qgroups/0_{subvolume}/referenced";
        return File.Exists(file) && long.TryParse(File.ReadAllText(file).Trim(), out var used) ? used : null;
    }

    /// <summary>The id of the subvolume at <paramref name="path"/> (its level-0 qgroup is <c>0/ID</c>).</summary>
    public static ulong? SubvolumeId(string path)
    {
        using var dir = Syscalls.TryOpenDirectory(path);
        return dir is null ? null : Btrfs.SubvolumeId(dir);
    }
}
