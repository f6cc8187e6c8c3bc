using System.Runtime.InteropServices;
using static Tmds.Linux.LibC;

namespace Hyperlxd.Interop.Linux;

/// <summary>The two btrfs ioctls the storage driver reads usage with (linux/btrfs.h).</summary>
public static unsafe class Btrfs
{
    internal const uint IocInoLookup = 0xD0009412; // _IOWR(0x94, 18, struct btrfs_ioctl_ino_lookup_args)
    internal const uint IocFsInfo = 0x8400941F;    // _IOR(0x94, 31, struct btrfs_ioctl_fs_info_args)
    private const ulong FirstFreeObjectId = 256;   // a subvolume's root directory

    /// <summary>struct btrfs_ioctl_ino_lookup_args: 4096 bytes (the size in <see cref="IocInoLookup"/>).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 4096)]
    internal struct InoLookupArgs
    {
        [FieldOffset(0)] public ulong TreeId;
        [FieldOffset(8)] public ulong ObjectId;
    }

    /// <summary>struct btrfs_ioctl_fs_info_args: 1024 bytes (the size in <see cref="IocFsInfo"/>); fsid after max_id and num_devices.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 1024)]
    internal struct FsInfoArgs
    {
        [FieldOffset(0)] public ulong MaxId;
        [FieldOffset(8)] public ulong NumDevices;
        [FieldOffset(16)] public Guid FsidRaw; // 16 bytes, read big-endian below
    }

    /// <summary>The id of the subvolume <paramref name="dir"/> is the root of (its level-0 qgroup is <c>0/ID</c>); null when not btrfs.</summary>
    public static ulong? SubvolumeId(SafeHandle dir)
    {
        using var use = new FdUse(dir);
        var args = new InoLookupArgs { TreeId = 0, ObjectId = FirstFreeObjectId }; // treeid 0: "the tree of this fd"
        return ioctl(use.Fd, unchecked((int)IocInoLookup), &args) < 0 ? null : args.TreeId;
    }

    /// <summary>The filesystem's UUID (as sysfs names it, /sys/fs/btrfs/UUID); null when not btrfs.</summary>
    public static Guid? FilesystemId(SafeHandle dir)
    {
        using var use = new FdUse(dir);
        var args = new FsInfoArgs();
        if (ioctl(use.Fd, unchecked((int)IocFsInfo), &args) < 0)
        {
            return null;
        }
        return new Guid(new ReadOnlySpan<byte>((byte*)&args + 16, 16), bigEndian: true);
    }
}
