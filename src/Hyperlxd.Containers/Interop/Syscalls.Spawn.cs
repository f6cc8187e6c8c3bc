using System.Runtime.InteropServices;

namespace Hyperlxd.Containers.Interop;

/// <summary>
/// Starting a native helper from .NET with one end of a socketpair as one of its fds, receiving fds it
/// passes back (SCM_RIGHTS) and reaping it: what the file broker client needs.
/// </summary>
internal static unsafe partial class Syscalls
{
    private const int AF_UNIX = 1, SOCK_STREAM = 1;
    private const short POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08;

    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    private static partial int SocketpairRaw(int domain, int type, int protocol, int* sv);

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
            Check(-FileActionsInit(fa), "posix_spawn_file_actions_init");
            var attrRc = SpawnAttrInit(attr);
            if (attrRc != 0)
            {
                _ = FileActionsDestroy(fa);
                Check(-attrRc, "posix_spawnattr_init");
            }
            try
            {
                // sigemptyset/sigfillset only fail on an invalid signal number; they take none here.
                _ = SigEmptySet(sets);
                _ = SigFillSet(sets + 128);
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
                // Destroy only frees what init allocated; it has nothing to report on Linux.
                _ = FileActionsDestroy(fa);
                _ = SpawnAttrDestroy(attr);
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

    /// <summary>
    /// recvmsg into <paramref name="buffer"/>; an fd passed with these bytes (SCM_RIGHTS, close-on-exec)
    /// lands in <paramref name="fd"/> (one held there before is closed). Bytes read (0 = EOF), or -errno.
    /// </summary>
    public static int ReceiveWithFd(int sock, Span<byte> buffer, ref int fd, int flags = 0)
    {
        var control = stackalloc ulong[4]; // CMSG_SPACE(sizeof(int)) = 24 bytes
        fixed (byte* b = buffer)
        {
            var iov = new IoVec { Base = b, Len = (nuint)buffer.Length };
            while (true)
            {
                var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = 32 };
                var n = RecvMsgRaw(sock, &msg, flags | MSG_CMSG_CLOEXEC);
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
                        _ = Close(fd); // a second SCM_RIGHTS fd: drop it
                    }
                    fd = *(int*)(c + 16);
                }
                return (int)n;
            }
        }
    }
}
