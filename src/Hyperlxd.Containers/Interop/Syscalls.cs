using System.Runtime.InteropServices;

namespace Hyperlxd.Containers.Interop;

/// <summary>
/// The raw Linux calls the container driver makes from .NET, in one place: ownership (the rootfs shift),
/// ptys, spawning a helper with a socket and receiving fds from it (the file broker). Everything
/// namespace-related, confined file access included, is in the C helpers (a multi-threaded process
/// cannot setns into mount/user namespaces).
/// </summary>
internal static unsafe partial class Syscalls
{
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_NOCTTY = 0x100,
        O_TRUNC = 0x200, O_APPEND = 0x400, O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000,
        O_PATH = 0x200000;
    public const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_EMPTY_PATH = 0x1000;
    public const uint S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFREG = 0x8000, S_IFLNK = 0xA000;
    public const int EEXIST = 17, ENOENT = 2, EINTR = 4, EIO = 5, EAGAIN = 11;
    private const nuint TIOCSWINSZ = 0x5414;

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

    [LibraryImport("libc", EntryPoint = "posix_openpt", SetLastError = true)]
    private static partial int PosixOpenpt(int flags);

    [LibraryImport("libc", EntryPoint = "grantpt", SetLastError = true)]
    private static partial int Grantpt(int fd);

    [LibraryImport("libc", EntryPoint = "unlockpt", SetLastError = true)]
    private static partial int Unlockpt(int fd);

    [LibraryImport("libc", EntryPoint = "ptsname_r", SetLastError = true)]
    private static partial int PtsnameR(int fd, byte* buf, nuint len);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenRaw(string path, int flags, uint mode);

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

    // --- the file broker: a helper spawned with one end of a socketpair, fds passed back ---

    public const int ESRCH = 3, EXDEV = 18, ENOTDIR = 20, EISDIR = 21, EINVAL = 22, ENAMETOOLONG = 36, ENOTEMPTY = 39, ELOOP = 40;
    private const int AF_UNIX = 1, SOCK_STREAM = 1, SOL_SOCKET = 1, SCM_RIGHTS = 1, MSG_CMSG_CLOEXEC = 0x40000000;
    private const short POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08;

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public void* Base;
        public nuint Len;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name;
        public uint NameLen;
        public IoVec* Iov;
        public nuint IovLen;
        public void* Control;
        public nuint ControlLen;
        public int Flags;
    }

    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    private static partial int SocketpairRaw(int domain, int type, int protocol, int* sv);

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    private static partial nint RecvmsgRaw(int fd, MsgHdr* msg, int flags);

    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    private static partial int WaitpidRaw(int pid, int* status, int options);

    [LibraryImport("libc", EntryPoint = "posix_spawn")]
    private static partial int PosixSpawn(int* pid, byte* path, void* fileActions, void* attr, byte** argv, byte** envp);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_init")]
    private static partial int FileActionsInit(void* fa);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_adddup2")]
    private static partial int FileActionsAddDup2(void* fa, int fd, int newFd);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_destroy")]
    private static partial int FileActionsDestroy(void* fa);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_init")]
    private static partial int SpawnAttrInit(void* attr);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setflags")]
    private static partial int SpawnAttrSetFlags(void* attr, short flags);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setsigmask")]
    private static partial int SpawnAttrSetSigMask(void* attr, void* set);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setsigdefault")]
    private static partial int SpawnAttrSetSigDefault(void* attr, void* set);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_destroy")]
    private static partial int SpawnAttrDestroy(void* attr);

    [LibraryImport("libc", EntryPoint = "sigemptyset")]
    private static partial int SigEmptySet(void* set);

    [LibraryImport("libc", EntryPoint = "sigfillset")]
    private static partial int SigFillSet(void* set);

    /// <summary>A connected AF_UNIX stream pair, both ends close-on-exec.</summary>
    public static (int A, int B) SocketPair()
    {
        var sv = stackalloc int[2];
        Check(SocketpairRaw(AF_UNIX, SOCK_STREAM | O_CLOEXEC, 0, sv) < 0 ? -Errno : 0, "Failed creating a socket pair");
        return (sv[0], sv[1]);
    }

    /// <summary>
    /// Starts <paramref name="file"/> (posix_spawn: safe in a multi-threaded process, unlike fork) with
    /// <paramref name="fd"/> as its fd <paramref name="childFd"/>, an empty environment, default signal
    /// dispositions and mask; stdio is inherited, every other fd is close-on-exec. The caller reaps it
    /// (<see cref="WaitPid"/>): .NET only reaps the children it started itself.
    /// </summary>
    public static int Spawn(string file, IReadOnlyList<string> args, int fd, int childFd)
    {
        var strings = new List<nint>();
        var fa = stackalloc byte[512];   // posix_spawn_file_actions_t: 80 bytes on glibc x86_64
        var attr = stackalloc byte[512]; // posix_spawnattr_t: 336 bytes
        var sets = stackalloc byte[256]; // two sigset_t of 128 bytes
        try
        {
            var argv = stackalloc byte*[args.Count + 2];
            argv[0] = Utf8(file, strings);
            for (var i = 0; i < args.Count; i++)
            {
                argv[i + 1] = Utf8(args[i], strings);
            }
            argv[args.Count + 1] = null;
            var envp = stackalloc byte*[1];
            envp[0] = null;
            FileActionsInit(fa);
            SpawnAttrInit(attr);
            try
            {
                SigEmptySet(sets);
                SigFillSet(sets + 128);
                int pid = 0, rc;
                if ((rc = FileActionsAddDup2(fa, fd, childFd)) != 0
                    || (rc = SpawnAttrSetFlags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)) != 0
                    || (rc = SpawnAttrSetSigMask(attr, sets)) != 0
                    || (rc = SpawnAttrSetSigDefault(attr, sets + 128)) != 0
                    || (rc = PosixSpawn(&pid, argv[0], fa, attr, argv, envp)) != 0)
                {
                    Check(-rc, "Failed starting " + file);
                }
                return pid;
            }
            finally
            {
                FileActionsDestroy(fa);
                SpawnAttrDestroy(attr);
            }
        }
        finally
        {
            strings.ForEach(Marshal.FreeCoTaskMem);
        }

        static byte* Utf8(string s, List<nint> strings)
        {
            var p = Marshal.StringToCoTaskMemUTF8(s);
            strings.Add(p);
            return (byte*)p;
        }
    }

    /// <summary>Reaps a child started with <see cref="Spawn"/>; its wait status, or -errno.</summary>
    public static int WaitPid(int pid)
    {
        int status;
        while (WaitpidRaw(pid, &status, 0) < 0)
        {
            if (Errno != EINTR)
            {
                return -Errno;
            }
        }
        return status;
    }

    /// <summary>recvmsg into <paramref name="buffer"/>; an fd passed with these bytes (SCM_RIGHTS, close-on-exec) lands in <paramref name="fd"/>. Bytes read, or -errno.</summary>
    public static int ReceiveWithFd(int sock, Span<byte> buffer, ref int fd)
    {
        var control = stackalloc ulong[4]; // CMSG_SPACE(sizeof(int)) = 24 bytes
        fixed (byte* b = buffer)
        {
            var iov = new IoVec { Base = b, Len = (nuint)buffer.Length };
            while (true)
            {
                var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = 32 };
                var n = RecvmsgRaw(sock, &msg, MSG_CMSG_CLOEXEC);
                if (n < 0 && Errno == EINTR)
                {
                    continue;
                }
                if (n < 0)
                {
                    return -Errno;
                }
                // struct cmsghdr { size_t len; int level; int type; int data[]; }
                var c = (byte*)control;
                if (msg.ControlLen >= 20 && *(nuint*)c >= 20 && *(int*)(c + 8) == SOL_SOCKET && *(int*)(c + 12) == SCM_RIGHTS)
                {
                    if (fd >= 0)
                    {
                        Close(fd);
                    }
                    fd = *(int*)(c + 16);
                }
                return (int)n;
            }
        }
    }

    /// <summary>A new pty: (master fd, slave fd), both close-on-exec so no other child inherits them.</summary>
    public static (int Master, int Slave, string SlavePath) OpenPty(int width, int height)
    {
        var master = PosixOpenpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        Check(master < 0 ? -Errno : 0, "Failed allocating a pty");
        var buf = stackalloc byte[128];
        if (Grantpt(master) < 0 || Unlockpt(master) < 0 || PtsnameR(master, buf, 128) != 0)
        {
            var e = Errno;
            Close(master);
            Check(-e, "Failed allocating a pty");
        }
        var path = Marshal.PtrToStringUTF8((nint)buf)!;
        var slave = OpenRaw(path, O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
        if (slave < 0)
        {
            var e = Errno;
            Close(master);
            Check(-e, "Failed opening " + path);
        }
        Resize(master, width, height);
        return (master, slave, path);
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
