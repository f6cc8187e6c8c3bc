using System.Runtime.InteropServices;
using System.Text;
using Hyperlxd.Daemon.Commands;
using static Tmds.Linux.LibC;

namespace Hyperlxd.Daemon.Hosting;

/// <summary>
/// One daemon per state directory: an exclusive <c>flock</c> on <c>daemon.lock</c>, on a
/// close-on-exec descriptor held for the life of the process, with the holder's pid written in the
/// file. The kernel drops the lock when the holder ends, however it ends; but a SIGKILLed daemon
/// keeps it until its teardown finishes (threads in uninterruptible I/O, e.g. copying a root
/// volume, delay that), and a restart issued right after <c>kill -9</c> must not be refused for it.
/// So a busy lock is an error only when its recorded holder is a live hyperlxd daemon; otherwise
/// (dead, dying, or the pid is now another program) we wait for the kernel to release it.
/// </summary>
public sealed partial class DaemonLock : IDisposable
{
    private const int LOCK_EX = 2;
    private const int LOCK_NB = 4;
    private const int PF_EXITING = 0x4;

    private int _fd;

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(int fd, int operation);

    private DaemonLock(int fd) => _fd = fd;

    public static DaemonLock Acquire(string dir, TimeSpan wait)
    {
        var path = Path.Combine(dir, "daemon.lock");
        var fd = Open(path);
        try
        {
            var deadline = DateTime.UtcNow + wait;
            var waiting = false;
            while (Flock(fd, LOCK_EX | LOCK_NB) != 0)
            {
                var err = Marshal.GetLastPInvokeError();
                if (err != EWOULDBLOCK && err != EINTR)
                {
                    throw new CommandException($"cannot lock {path}: errno {err}");
                }
                var holder = ReadPid(fd);
                if (holder is { } pid && IsLiveDaemon(pid))
                {
                    throw new CommandException($"another hyperlxd daemon (pid {pid}) is running on {dir}");
                }
                if (DateTime.UtcNow > deadline)
                {
                    throw new CommandException($"{path} is still locked {wait.TotalSeconds:0} s after its holder (pid {holder?.ToString() ?? "unknown"}) ended");
                }
                if (!waiting)
                {
                    Console.Error.WriteLine($"Waiting for the previous daemon (pid {holder?.ToString() ?? "unknown"}) to finish exiting");
                    waiting = true;
                }
                Thread.Sleep(50);
            }
            WritePid(fd, Environment.ProcessId);
            return new DaemonLock(fd);
        }
        catch
        {
            _ = close(fd);
            throw;
        }
    }

    private static unsafe int Open(string path)
    {
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes)
        {
            var fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0b110_000_000);
            return fd >= 0 ? fd : throw new CommandException($"cannot open {path}: errno {errno}");
        }
    }

    private static unsafe int? ReadPid(int fd)
    {
        var buffer = stackalloc byte[32];
        var n = pread(fd, buffer, 31, 0);
        return n > 0 && int.TryParse(Encoding.ASCII.GetString(buffer, (int)n).Trim(), out var pid) && pid > 0 ? pid : null;
    }

    private static unsafe void WritePid(int fd, int pid)
    {
        var bytes = Encoding.ASCII.GetBytes(pid + "\n");
        fixed (byte* p = bytes)
        {
            if (ftruncate(fd, 0) != 0 || pwrite(fd, p, bytes.Length, 0) != bytes.Length)
            {
                throw new CommandException($"cannot write the daemon pid to its lock file: errno {errno}");
            }
        }
    }

    /// <summary>
    /// A running (not exiting, not a zombie) process whose executable is ours and that runs the
    /// <c>daemon</c> command: a recycled pid or a killed daemon still being torn down is not one.
    /// </summary>
    private static bool IsLiveDaemon(int pid)
    {
        try
        {
            // /proc/PID/stat: "pid (comm) state ppid ... flags" — comm may hold spaces, so split after ')'.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (fields[0] is "Z" or "X" or "x" || (uint.Parse(fields[6]) & PF_EXITING) != 0)
            {
                return false;
            }
            // A delivered SIGKILL shows as pending until every thread has acted on it.
            if (File.ReadAllText($"/proc/{pid}/status").Split('\n')
                .Where(l => l.StartsWith("SigPnd:", StringComparison.Ordinal) || l.StartsWith("ShdPnd:", StringComparison.Ordinal))
                .Any(l => (Convert.ToUInt64(l[7..].Trim(), 16) & (1UL << (SIGKILL - 1))) != 0))
            {
                return false;
            }
            var args = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            var exe = new FileInfo($"/proc/{pid}/exe").LinkTarget;
            return args.Length > 1 && args[1] == "daemon"
                && (exe == Environment.ProcessPath || Path.GetFileName(args[0]) == "hyperlxd");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return false; // gone
        }
    }

    public void Dispose()
    {
        if (_fd >= 0)
        {
            _ = close(_fd); // close(2) releases the fd even when it reports an error: nothing to retry
            _fd = -1;
        }
    }
}
