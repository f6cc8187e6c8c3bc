using System.Runtime.InteropServices;
using LibC = Tmds.Linux.LibC;

namespace Hyperlxd.Interop.Linux;

/// <summary>
/// openat2 with RESOLVE_BENEATH (no "..", absolute symlink or /proc magic link leaves the starting directory) and
/// the bind mount of exactly the file such a call opened: a path checked once and used later could meanwhile have
/// become a symlink leading elsewhere, the fd cannot.
/// </summary>
public static unsafe partial class Syscalls
{
    /// <summary>openat2's number: the same on x86_64 and in asm-generic (arm64).</summary>
    private const long SysOpenat2 = 437;

    private const ulong ResolveNoMagicLinks = 0x02, ResolveBeneath = 0x08;

    private const int OPath = 0x200000;

    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Openat2(long number, int dirfd, byte* path, OpenHow* how, nuint size);

    /// <summary>
    /// An O_PATH fd of <paramref name="relative"/> resolved beneath directory <paramref name="dir"/> (symlinks inside it
    /// are followed, none may lead out). Escaping is an <see cref="ErrnoException"/> with EXDEV.
    /// </summary>
    public static SafeFdHandle OpenBeneath(string dir, string relative)
    {
        using var root = Open(dir, OPath | LibC.O_DIRECTORY | LibC.O_CLOEXEC);
        var how = new OpenHow { Flags = (ulong)(OPath | LibC.O_CLOEXEC), Resolve = ResolveBeneath | ResolveNoMagicLinks };
        fixed (byte* p = System.Text.Encoding.UTF8.GetBytes((relative.Length == 0 ? "." : relative) + "\0"))
        {
            var fd = Openat2(SysOpenat2, (int)root.DangerousGetHandle(), p, &how, (nuint)sizeof(OpenHow));
            return fd >= 0 ? new SafeFdHandle((int)fd) : throw Errno.Throw($"openat2 {relative} beneath {dir}");
        }
    }

    /// <summary>Whether an O_PATH fd is a directory (fstat works on O_PATH fds).</summary>
    public static bool IsDirectory(SafeFdHandle fd)
    {
        Tmds.Linux.stat st;
        Errno.Check(LibC.fstat((int)fd.DangerousGetHandle(), &st), "fstat");
        return (st.st_mode & LibC.S_IFMT) == LibC.S_IFDIR;
    }

    /// <summary>Bind-mounts what <paramref name="fd"/> is onto <paramref name="target"/>, as a private mount (nothing propagates from it).</summary>
    public static void BindPrivate(SafeFdHandle fd, string target)
    {
        var source = $"/proc/self/fd/{(int)fd.DangerousGetHandle()}";
        fixed (byte* s = System.Text.Encoding.UTF8.GetBytes(source + "\0"))
        fixed (byte* t = System.Text.Encoding.UTF8.GetBytes(target + "\0"))
        {
            Errno.Check(LibC.mount(s, t, null, LibC.MS_BIND, null), "mount --bind " + target);
            Errno.Check(LibC.mount(null, t, null, LibC.MS_PRIVATE, null), "mount --make-private " + target);
        }
    }

    /// <summary>Lazily unmounts <paramref name="target"/> (MNT_DETACH); false when nothing is mounted there.</summary>
    public static bool Detach(string target)
    {
        fixed (byte* t = System.Text.Encoding.UTF8.GetBytes(target + "\0"))
        {
            return LibC.umount2(t, LibC.MNT_DETACH) == 0;
        }
    }
}
