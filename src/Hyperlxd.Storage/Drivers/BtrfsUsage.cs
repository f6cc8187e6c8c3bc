using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Hyperlxd.Storage.Drivers;

/// <summary>
/// A subvolume's space from its qgroup, read the cheap way (instance state asks on every
/// <c>lxc list</c>): two ioctls for the subvolume id and the filesystem id, then the kernel's
/// sysfs copy of the qgroup counters. Null when quotas are off (no qgroup accounting), as LXD.
/// </summary>
internal static unsafe class BtrfsUsage
{
    private const uint IocInoLookup = 0xD0009412; // _IOWR(0x94, 18, struct btrfs_ioctl_ino_lookup_args /* 4096 */)
    private const uint IocFsInfo = 0x8400941F;    // _IOR(0x94, 31, struct btrfs_ioctl_fs_info_args /* 1024 */)
    private const ulong FirstFreeObjectId = 256;  // a subvolume's root directory

    /// <summary>"Referenced" bytes of the subvolume at <paramref name="path"/> (LXD's btrfs usage).</summary>
    public static long? Referenced(string path) => WithDirectory(path, fd =>
    {
        var info = stackalloc byte[1024];
        new Span<byte>(info, 1024).Clear();
        if (SubvolumeId(fd) is not { } subvolume || ioctl(fd, unchecked((int)IocFsInfo), info) < 0)
        {
            return null;
        }
        var fsid = new Guid(new ReadOnlySpan<byte>(info + 16, 16), bigEndian: true).ToString("D");
        var file = $"/sys/fs/btrfs/{fsid}/qgroups/0_{subvolume}/referenced";
        return File.Exists(file) && long.TryParse(File.ReadAllText(file).Trim(), out var used) ? used : (long?)null;
    });

    /// <summary>The id of the subvolume at <paramref name="path"/> (its level-0 qgroup is <c>0/ID</c>).</summary>
    public static ulong? SubvolumeId(string path) => WithDirectory(path, SubvolumeId);

    private static ulong? SubvolumeId(int fd)
    {
        var lookup = stackalloc byte[4096];
        new Span<byte>(lookup, 4096).Clear();
        ((ulong*)lookup)[1] = FirstFreeObjectId; // treeid 0: "the tree of this fd"
        return ioctl(fd, unchecked((int)IocInoLookup), lookup) < 0 ? null : ((ulong*)lookup)[0];
    }

    private static T? WithDirectory<T>(string path, Func<int, T?> use)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        int fd;
        fixed (byte* p = bytes)
        {
            fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        if (fd < 0)
        {
            return default;
        }
        try
        {
            return use(fd);
        }
        finally
        {
            _ = close(fd); // close(2) releases the fd even when it reports an error: nothing to retry
        }
    }
}
