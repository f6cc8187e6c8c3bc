using System.Runtime.InteropServices;
using System.Text;

namespace Hyperlxd.Interop.Linux;

public static unsafe partial class Syscalls
{
    /// <summary>lsetxattr(2): sets an extended attribute on the node itself (a symlink is not followed).</summary>
    public static void LSetXattr(string path, string name, ReadOnlySpan<byte> value)
    {
        var p = Encoding.UTF8.GetBytes(path + "\0");
        var n = Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* pp = p, nn = n, vv = value)
        {
            Errno.Check(LSetXattrNative(pp, nn, vv, (nuint)value.Length, 0), $"lsetxattr {name} {path}");
        }
    }

    [LibraryImport("libc", EntryPoint = "lsetxattr", SetLastError = true)]
    private static partial int LSetXattrNative(byte* path, byte* name, byte* value, nuint size, int flags);
}
