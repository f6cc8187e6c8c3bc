using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Linux;

/// <summary>What <c>statfs</c> says about a filesystem: its type name (where known), sizes in bytes, inodes.</summary>
public readonly record struct FilesystemStatus(string FsType, ulong SizeBytes, ulong FreeBytes, ulong AvailBytes, ulong Inodes, ulong FreeInodes);

public static unsafe partial class Syscalls
{
    /// <summary>statfs(2); the magic number is named as LXD's FSTypeToName names it (others in hex, "0x…").</summary>
    public static FilesystemStatus Statfs(string path)
    {
        StatfsBuf buf;
        Errno.Check(StatfsNative(path, &buf), $"statfs {path}");
        var bsize = (ulong)buf.Bsize;
        return new FilesystemStatus(FsTypeName(buf.Type), buf.Blocks * bsize, buf.Bfree * bsize, buf.Bavail * bsize, buf.Files, buf.Ffree);
    }

    public static string FsTypeName(long magic) => (uint)magic switch
    {
        0xEF53 => "ext4",
        0x9123683E => "btrfs",
        0x58465342 => "xfs",
        0x01021994 => "tmpfs",
        0x2FC12FC1 => "zfs",
        0x6969 => "nfs",
        var other => $"0x{other:x}",
    };

    /// <summary>struct statfs on 64-bit Linux (all words 8 bytes but the fsid pair).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct StatfsBuf
    {
        public long Type;
        public long Bsize;
        public ulong Blocks;
        public ulong Bfree;
        public ulong Bavail;
        public ulong Files;
        public ulong Ffree;
        public ulong Fsid;
        public long Namelen;
        public long Frsize;
        public long Flags;
        public long Spare0, Spare1, Spare2, Spare3;
    }

    [LibraryImport("libc", EntryPoint = "statfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatfsNative(string path, StatfsBuf* buf);
}
