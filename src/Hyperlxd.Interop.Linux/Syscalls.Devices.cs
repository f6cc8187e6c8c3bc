using System.Runtime.InteropServices;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Hyperlxd.Interop.Linux;

/// <summary>Device nodes: the numbers of a host node, and making one (unix-char and unix-block devices).</summary>
public static unsafe partial class Syscalls
{
    /// <summary>The kind ('c' or 'b') and major/minor of the node at <paramref name="path"/> (links followed); null when there is no device node there.</summary>
    public static (char Kind, uint Major, uint Minor)? DeviceNumbers(string path)
    {
        stat st;
        fixed (byte* b = Path0(path))
        {
            if (LibC.stat(b, &st) != 0)
            {
                return null;
            }
        }
        var kind = FileStatus.KindOf((ushort)st.st_mode);
        if (kind is not (NodeKind.CharDevice or NodeKind.BlockDevice))
        {
            return null;
        }
        var dev = (ulong)st.st_rdev;
        // glibc's gnu_dev_major/minor.
        var major = (uint)(((dev >> 32) & 0xfffff000) | ((dev >> 8) & 0xfff));
        var minor = (uint)(((dev >> 12) & 0xffffff00) | (dev & 0xff));
        return (kind == NodeKind.CharDevice ? 'c' : 'b', major, minor);
    }

    /// <summary>mknod of a character ('c') or block ('b') node with permission bits <paramref name="mode"/> (the umask applies).</summary>
    public static void MkNod(string path, char kind, uint major, uint minor, uint mode)
    {
        var type = kind == 'c' ? 0x2000u : 0x6000u; // S_IFCHR, S_IFBLK
        var dev = ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) | ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);
        fixed (byte* b = Path0(path))
        {
            Errno.Check(MkNodNative(b, type | (mode & 0xFFF), dev), "mknod " + path);
        }
    }

    [LibraryImport("libc", EntryPoint = "mknod", SetLastError = true)]
    private static partial int MkNodNative(byte* path, uint mode, ulong dev);
}
