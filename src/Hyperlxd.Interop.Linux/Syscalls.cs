using System.Runtime.InteropServices;

namespace Hyperlxd.Containers.Interop;

/// <summary>
/// The raw Linux calls the container driver makes from .NET, in one place (partial by concern):
/// ownership for the chown shift, fds received over a socket (pty masters, broker files), helper spawn.
/// Everything namespace-related is in the C helpers (a multi-threaded process cannot setns into mount/user namespaces).
/// </summary>
internal static unsafe partial class Syscalls
{
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_NOCTTY = 0x100,
        O_TRUNC = 0x200, O_APPEND = 0x400, O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000,
        O_PATH = 0x200000;
    public const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_EMPTY_PATH = 0x1000;
    public const uint S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFREG = 0x8000, S_IFLNK = 0xA000;
    public const int ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, EAGAIN = 11, EEXIST = 17, EXDEV = 18, ENOTDIR = 20, EISDIR = 21,
        EINVAL = 22, ENAMETOOLONG = 36, ENOTEMPTY = 39, ELOOP = 40;
    private const nuint TIOCSWINSZ = 0x5414, TIOCGPTN = 0x80045430;
    private const int SOL_SOCKET = 1, SO_PEERCRED = 17, SCM_RIGHTS = 1, MSG_DONTWAIT = 0x40, MSG_CMSG_CLOEXEC = 0x40000000;

    /// <summary>x86_64 <c>struct stat</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Stat
    {
        public ulong Dev, Ino, Nlink;
        public uint Mode, Uid, Gid;
        private readonly int _pad0;
        public ulong Rdev;
        public long Size, BlkSize, Blocks;
        public long ATime, ATimeNs, MTime, MTimeNs, CTime, CTimeNs;
        private readonly long _r0, _r1, _r2;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct WinSize
    {
        public ushort Rows, Cols, XPixel, YPixel;
    }

    /// <summary>x86_64 <c>struct msghdr</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name;
        public uint NameLen;
        public void* Iov;
        public nuint IovLen;
        public void* Control;
        public nuint ControlLen;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public void* Base;
        public nuint Len;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct UCred
    {
        public int Pid;
        public uint Uid, Gid;
    }

    [LibraryImport("libc", EntryPoint = "fstatat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int FstatAt(int dirfd, string path, Stat* buf, int flags);

    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LchownRaw(string path, uint uid, uint gid);

    [LibraryImport("libc", EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int ChmodRaw(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint ReadRaw(int fd, byte* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint WriteRaw(int fd, byte* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    private static partial nint RecvMsgRaw(int fd, MsgHdr* msg, int flags);

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    private static partial int GetSockOpt(int fd, int level, int name, void* value, uint* len);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, void* arg);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int sig);

    public static int Errno => Marshal.GetLastPInvokeError();

    private static string Message(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    public static int LStat(string path, out Stat st)
    {
        Stat s;
        var rc = FstatAt(AT_FDCWD, path, &s, AT_SYMLINK_NOFOLLOW);
        st = s;
        return rc < 0 ? -Errno : 0;
    }

    public static void Check(int rc, string what)
    {
        if (rc < 0)
        {
            throw new IOException($"{what}: {Message(-rc)}", -rc);
        }
    }

    public static int Lchown(string path, uint uid, uint gid) => LchownRaw(path, uid, gid) < 0 ? -Errno : 0;

    public static int Chmod(string path, uint mode) => ChmodRaw(path, mode) < 0 ? -Errno : 0;

    public static int Read(int fd, Span<byte> buffer)
    {
        fixed (byte* b = buffer)
        {
            while (true)
            {
                var n = ReadRaw(fd, b, (nuint)buffer.Length);
                if (n >= 0)
                {
                    return (int)n;
                }
                var e = Errno;
                if (e != EINTR)
                {
                    return -e;
                }
            }
        }
    }

    public static int Write(int fd, ReadOnlySpan<byte> buffer)
    {
        fixed (byte* b = buffer)
        {
            while (true)
            {
                var n = WriteRaw(fd, b, (nuint)buffer.Length);
                if (n >= 0)
                {
                    return (int)n;
                }
                var e = Errno;
                if (e != EINTR)
                {
                    return -e;
                }
            }
        }
    }

    /// <summary>
    /// One message with at most one fd attached (SCM_RIGHTS), without blocking: the byte count (0 = EOF)
    /// or -errno (-EAGAIN: nothing yet). The fd arrives close-on-exec; -1 when none was attached.
    /// </summary>
    public static int RecvFd(int sock, out int fd)
    {
        fd = -1;
        byte data;
        return ReceiveWithFd(sock, new Span<byte>(&data, 1), ref fd, MSG_DONTWAIT);
    }

    /// <summary>The pid that connected a unix socket (SO_PEERCRED), or -errno.</summary>
    public static int PeerPid(int sock)
    {
        UCred cred;
        var len = (uint)sizeof(UCred);
        return GetSockOpt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ? -Errno : cred.Pid;
    }

    /// <summary>The pts number of a pty master, or -errno (ENOTTY: not a pty master).</summary>
    public static int PtyNumber(int master)
    {
        uint n;
        return Ioctl(master, TIOCGPTN, &n) < 0 ? -Errno : (int)n;
    }

    public static void Resize(int master, int width, int height)
    {
        if (width <= 0 || height <= 0)
        {
            return;
        }
        var ws = new WinSize { Cols = (ushort)width, Rows = (ushort)height };
        Ioctl(master, TIOCSWINSZ, &ws);
    }
}
