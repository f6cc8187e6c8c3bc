using System.Runtime.InteropServices;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Hyperlxd.Interop.Linux;

/// <summary>
/// Starting a native helper from .NET with one end of a socketpair as one of its fds, receiving fds it
/// passes back (SCM_RIGHTS) and reaping it: what the file broker client needs.
/// </summary>
public static unsafe partial class Syscalls
{
    internal const int CmsgDataOffset = 16; // CMSG_DATA of the first header on x86_64/arm64 glibc: CMSG_LEN(0)
    private const short POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08; // <spawn.h>: not in Tmds.LibC

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
    private static partial int SpawnAttrSetSigMask(void* attr, sigset_t* set);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setsigdefault")]
    private static partial int SpawnAttrSetSigDefault(void* attr, sigset_t* set);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_destroy")]
    private static partial int SpawnAttrDestroy(void* attr);

    /// <summary>A connected AF_UNIX stream pair, both ends close-on-exec.</summary>
    public static (SafeFdHandle A, SafeFdHandle B) SocketPair()
    {
        var sv = stackalloc int[2];
        Errno.Check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "socketpair");
        return (new SafeFdHandle(sv[0]), new SafeFdHandle(sv[1]));
    }

    /// <summary>
    /// Starts <paramref name="file"/> (posix_spawn: safe in a multi-threaded process, unlike fork) with
    /// <paramref name="fd"/> as its fd <paramref name="childFd"/>, an empty environment, default signal
    /// dispositions and mask; stdio is inherited, every other fd is close-on-exec. The caller reaps it
    /// (<see cref="WaitPid"/>): .NET only reaps the children it started itself.
    /// </summary>
    public static int Spawn(string file, IReadOnlyList<string> args, SafeHandle fd, int childFd)
    {
        using var use = new FdUse(fd);
        var strings = new List<nint>();
        // Opaque glibc objects, generously sized (x86_64: posix_spawn_file_actions_t 80 bytes, posix_spawnattr_t 336).
        var fa = stackalloc byte[512];
        var attr = stackalloc byte[512];
        sigset_t none, all;
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
            Check(FileActionsInit(fa), "posix_spawn_file_actions_init");
            try
            {
                Check(SpawnAttrInit(attr), "posix_spawnattr_init");
                try
                {
                    Errno.Check(sigemptyset(&none), "sigemptyset");
                    Errno.Check(sigfillset(&all), "sigfillset");
                    int pid = 0;
                    Check(FileActionsAddDup2(fa, use.Fd, childFd), "posix_spawn_file_actions_adddup2");
                    Check(SpawnAttrSetFlags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK), "posix_spawnattr_setflags");
                    Check(SpawnAttrSetSigMask(attr, &none), "posix_spawnattr_setsigmask");
                    Check(SpawnAttrSetSigDefault(attr, &all), "posix_spawnattr_setsigdefault");
                    Check(PosixSpawn(&pid, argv[0], fa, attr, argv, envp), "Failed starting " + file);
                    return pid;
                }
                finally
                {
                    _ = SpawnAttrDestroy(attr); // cannot fail on glibc
                }
            }
            finally
            {
                _ = FileActionsDestroy(fa); // cannot fail on glibc
            }
        }
        finally
        {
            strings.ForEach(Marshal.FreeCoTaskMem);
        }

        // The posix_spawn family returns the error number instead of setting errno.
        static void Check(int rc, string call)
        {
            if (rc != 0)
            {
                throw Errno.Exception(rc, call);
            }
        }

        static byte* Utf8(string s, List<nint> strings)
        {
            var p = Marshal.StringToCoTaskMemUTF8(s);
            strings.Add(p);
            return (byte*)p;
        }
    }

    /// <summary>Reaps a child started with <see cref="Spawn"/> (EINTR retried); its wait status.</summary>
    public static int WaitPid(int pid)
    {
        int status;
        while (WaitpidRaw(pid, &status, 0) < 0)
        {
            if (Errno.Last != EINTR)
            {
                throw Errno.Throw($"waitpid {pid}");
            }
        }
        return status;
    }

    /// <summary>
    /// recvmsg into <paramref name="buffer"/>, EINTR retried; an fd passed with these bytes (SCM_RIGHTS,
    /// close-on-exec) lands in <paramref name="fd"/> (one held there before is closed). Bytes read, 0 at
    /// EOF; -1 when <paramref name="dontWait"/> and nothing is there yet (EAGAIN).
    /// </summary>
    public static int ReceiveWithFd(SafeHandle sock, Span<byte> buffer, ref SafeFdHandle? fd, bool dontWait = false)
    {
        using var use = new FdUse(sock);
        var control = stackalloc ulong[4]; // CMSG_SPACE(sizeof(int)) = 24 bytes, 8-aligned
        fixed (byte* b = buffer)
        {
            var iov = new iovec { iov_base = b, iov_len = buffer.Length };
            while (true)
            {
                var msg = new msghdr { msg_iov = &iov, msg_iovlen = 1, msg_control = control, msg_controllen = 32 };
                var n = recvmsg(use.Fd, &msg, (dontWait ? MSG_DONTWAIT : 0) | MSG_CMSG_CLOEXEC);
                if (n < 0)
                {
                    var e = Errno.Last;
                    if (e == EINTR)
                    {
                        continue;
                    }
                    if (e == EAGAIN && dontWait)
                    {
                        return -1;
                    }
                    throw Errno.Exception(e, "recvmsg");
                }
                // glibc's struct cmsghdr { size_t len; int level; int type; int data[]; }: Tmds.LibC declares musl's
                // (a 4-byte len), so the one header is read by offset (checked by StructLayoutTests).
                var c = (byte*)control;
                if ((uint)msg.msg_controllen >= CmsgDataOffset + sizeof(int) && *(nuint*)c >= CmsgDataOffset + sizeof(int)
                    && *(int*)(c + 8) == SOL_SOCKET && *(int*)(c + 12) == SCM_RIGHTS)
                {
                    fd?.Dispose();
                    fd = new SafeFdHandle(*(int*)(c + CmsgDataOffset));
                }
                return (int)n;
            }
        }
    }

    /// <summary>
    /// One message with at most one fd attached, without blocking: false when nothing is there yet (EAGAIN);
    /// else <paramref name="bytes"/> (0 = EOF) and the fd (close-on-exec), null when none was attached.
    /// </summary>
    public static bool TryReceiveFd(SafeHandle sock, out int bytes, out SafeFdHandle? fd)
    {
        fd = null;
        byte data;
        bytes = ReceiveWithFd(sock, new Span<byte>(&data, 1), ref fd, dontWait: true);
        return bytes >= 0;
    }
}
