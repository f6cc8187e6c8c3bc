using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Hyperlxd.Interop.Linux;

/// <summary>The kind of a file system node, from the S_IFMT bits of its mode.</summary>
public enum NodeKind
{
    Other,
    Regular,
    Directory,
    Symlink,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
}

/// <summary>What <c>lstat</c> says about a node: device and inode, link count, full mode (type and permission bits), owner, size.</summary>
public readonly record struct FileStatus(ulong Device, ulong Inode, ulong Links, uint Mode, uint Uid, uint Gid, long Size)
{
    public NodeKind Kind => KindOf(Mode);

    /// <summary>The permission bits with setuid, setgid and sticky (mode &amp; 07777).</summary>
    public uint Permissions => Mode & 0xFFF;

    public static NodeKind KindOf(uint mode)
    {
        var type = (mode_t)(ushort)(mode & (ushort)S_IFMT);
        return type == S_IFREG ? NodeKind.Regular
            : type == S_IFDIR ? NodeKind.Directory
            : type == S_IFLNK ? NodeKind.Symlink
            : type == S_IFIFO ? NodeKind.Fifo
            : type == S_IFCHR ? NodeKind.CharDevice
            : type == S_IFBLK ? NodeKind.BlockDevice
            : type == S_IFSOCK ? NodeKind.Socket
            : NodeKind.Other;
    }
}

/// <summary>
/// The Linux calls the C# side makes, in one place (partial by concern): paths and ownership, fds and
/// sockets (pty masters, broker files, peers), locks, signals, helper spawn. Every call checks its result:
/// failures throw <see cref="ErrnoException"/> (<see cref="Errno"/>); the conditions a caller expects
/// (a missing node, nothing to read yet, a busy lock) are return values of the <c>Try</c> calls.
/// Everything namespace-related is in the C helpers (a multi-threaded process cannot setns into mount/user namespaces),
/// except a network namespace entered by one dedicated thread to make a netlink socket there (Syscalls.Netns.cs).
/// </summary>
public static unsafe partial class Syscalls
{
    private static byte[] Path0(string path) => Encoding.UTF8.GetBytes(path + "\0");

    /// <summary>lstat: the node itself (a symlink is not followed).</summary>
    public static FileStatus LStat(string path) =>
        TryLStat(path, out var st) ? st : throw Errno.Exception(ENOENT, "lstat " + path);

    /// <summary>lstat; false when nothing is there (ENOENT, or ENOTDIR: a parent is not a directory).</summary>
    public static bool TryLStat(string path, out FileStatus status)
    {
        var p = Path0(path);
        stat st;
        fixed (byte* b = p)
        {
            if (lstat(b, &st) == 0)
            {
                status = new FileStatus((ulong)st.st_dev, (ulong)st.st_ino, (ulong)st.st_nlink, (ushort)st.st_mode, (uint)st.st_uid, (uint)st.st_gid, (long)st.st_size);
                return true;
            }
        }
        var e = Errno.Last;
        status = default;
        return e == ENOENT || e == ENOTDIR ? false : throw Errno.Exception(e, "lstat " + path);
    }

    /// <summary>lchown: the node itself, a symlink is not followed. <see cref="uint.MaxValue"/> keeps an id.</summary>
    public static void Lchown(string path, uint uid, uint gid)
    {
        fixed (byte* b = Path0(path))
        {
            Errno.Check(lchown(b, uid, gid), "lchown " + path);
        }
    }

    /// <summary>chown (follows symlinks). <see cref="uint.MaxValue"/> keeps an id.</summary>
    public static void Chown(string path, uint uid, uint gid)
    {
        fixed (byte* b = Path0(path))
        {
            Errno.Check(chown(b, uid, gid), "chown " + path);
        }
    }

    /// <summary>chmod with the full 07777 bits (File.SetUnixFileMode cannot set setuid/setgid after a chown cleared them).</summary>
    public static void Chmod(string path, uint mode)
    {
        fixed (byte* b = Path0(path))
        {
            Errno.Check(chmod(b, (ushort)mode), "chmod " + path);
        }
    }

    /// <summary>A hard link <paramref name="newPath"/> to <paramref name="existing"/>.</summary>
    public static void Link(string existing, string newPath)
    {
        fixed (byte* a = Path0(existing), b = Path0(newPath))
        {
            Errno.Check(link(a, b), $"link {newPath} → {existing}");
        }
    }

    public static void MkFifo(string path, uint mode)
    {
        fixed (byte* b = Path0(path))
        {
            Errno.Check(mkfifo(b, (ushort)mode), "mkfifo " + path);
        }
    }

    /// <summary>open(2), close-on-exec.</summary>
    public static SafeFdHandle Open(string path, int flags, uint mode = 0)
    {
        fixed (byte* b = Path0(path))
        {
            var fd = open(b, flags | O_CLOEXEC, (ushort)mode);
            return fd >= 0 ? new SafeFdHandle(fd) : throw Errno.Throw("open " + path);
        }
    }

    /// <summary>Opens (creating it with <paramref name="mode"/> when missing) a file for reading and writing, close-on-exec.</summary>
    public static SafeFdHandle OpenOrCreate(string path, uint mode) => Open(path, O_RDWR | O_CREAT, mode);

    /// <summary>A directory opened read-only (for ioctls on it); null when it cannot be opened.</summary>
    public static SafeFdHandle? TryOpenDirectory(string path)
    {
        fixed (byte* b = Path0(path))
        {
            var fd = open(b, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
            return fd >= 0 ? new SafeFdHandle(fd) : null;
        }
    }

    /// <summary>kill(2); false when the process is gone (ESRCH).</summary>
    public static bool Kill(int pid, int signal)
    {
        if (kill(pid, signal) == 0)
        {
            return true;
        }
        var e = Errno.Last;
        return e == ESRCH ? false : throw Errno.Exception(e, $"kill {pid} (signal {signal})");
    }

    /// <summary>Gives glibc's free heap pages back to the kernel (malloc_trim(0)); nothing to check: it only says whether any were.</summary>
    public static void TrimNativeHeap() => _ = MallocTrim(0);

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    /// <summary>read(2), EINTR retried: bytes read, 0 at end of file.</summary>
    public static int Read(SafeHandle fd, Span<byte> buffer)
    {
        using var use = new FdUse(fd);
        fixed (byte* b = buffer)
        {
            while (true)
            {
                var n = read(use.Fd, b, buffer.Length);
                if (n >= 0)
                {
                    return (int)n;
                }
                if (Errno.Last != EINTR)
                {
                    throw Errno.Throw("read");
                }
            }
        }
    }

    /// <summary>write(2), EINTR retried: bytes written (perhaps fewer than given).</summary>
    public static int Write(SafeHandle fd, ReadOnlySpan<byte> buffer)
    {
        using var use = new FdUse(fd);
        fixed (byte* b = buffer)
        {
            while (true)
            {
                var n = write(use.Fd, b, buffer.Length);
                if (n >= 0)
                {
                    return (int)n;
                }
                if (Errno.Last != EINTR)
                {
                    throw Errno.Throw("write");
                }
            }
        }
    }

    /// <summary>The pid that connected a unix socket (SO_PEERCRED).</summary>
    public static int PeerPid(SafeHandle sock)
    {
        using var use = new FdUse(sock);
        ucred cred;
        socklen_t len = sizeof(ucred);
        Errno.Check(getsockopt(use.Fd, SOL_SOCKET, SO_PEERCRED, &cred, &len), "getsockopt SO_PEERCRED");
        return cred.pid;
    }

    /// <summary>Whether <paramref name="fd"/> is a pty master (TIOCGPTN answers).</summary>
    public static bool IsPtyMaster(SafeHandle fd)
    {
        using var use = new FdUse(fd);
        uint n;
        return ioctl(use.Fd, TIOCGPTN, &n) == 0;
    }

    /// <summary>The window size of a pty (TIOCSWINSZ); a non-positive size is ignored.</summary>
    public static void Resize(SafeHandle master, int width, int height)
    {
        if (width <= 0 || height <= 0)
        {
            return;
        }
        using var use = new FdUse(master);
        var ws = new winsize { ws_col = (ushort)width, ws_row = (ushort)height };
        Errno.Check(ioctl(use.Fd, TIOCSWINSZ, &ws), "ioctl TIOCSWINSZ");
    }

    /// <summary>
    /// An exclusive flock without waiting (LOCK_EX | LOCK_NB), EINTR retried; false when another open
    /// file holds it (EWOULDBLOCK). Released when the fd is closed.
    /// </summary>
    public static bool TryLockExclusive(SafeHandle fd)
    {
        using var use = new FdUse(fd);
        while (Flock(use.Fd, LOCK_EX | LOCK_NB) != 0)
        {
            var e = Errno.Last;
            if (e == EWOULDBLOCK)
            {
                return false;
            }
            if (e != EINTR)
            {
                throw Errno.Exception(e, "flock");
            }
        }
        return true;
    }

    private const int LOCK_EX = 2, LOCK_NB = 4; // <sys/file.h>: not in Tmds.LibC

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(int fd, int operation);
}
