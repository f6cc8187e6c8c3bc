using System.Text;
using Hyperlxd.Daemon.Commands;
using Hyperlxd.Interop.Linux;
using Microsoft.Win32.SafeHandles;

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
public sealed class DaemonLock : IDisposable
{
    private const int PF_EXITING = 0x4;

    private readonly SafeFileHandle _file;

    private DaemonLock(SafeFileHandle file) => _file = file;

    public static DaemonLock Acquire(string dir, TimeSpan wait)
    {
        var path = Path.Combine(dir, "daemon.lock");
        var file = Open(path);
        try
        {
            var deadline = DateTime.UtcNow + wait;
            var waiting = false;
            while (!TryLock(file, path))
            {
                var holder = ReadPid(file);
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
            WritePid(file, Environment.ProcessId);
            return new DaemonLock(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// open(2) directly, not File.OpenHandle: .NET takes an advisory flock of its own on the files it
    /// opens, which would refuse a second daemon before it could say who holds the lock.
    /// </summary>
    private static SafeFileHandle Open(string path)
    {
        try
        {
            using var fd = Syscalls.OpenOrCreate(path, 0b110_000_000);
            return fd.ToFileHandle(); // takes the descriptor over: disposing fd afterwards closes nothing
        }
        catch (ErrnoException e)
        {
            throw new CommandException($"cannot open {path}: {e.Message}");
        }
    }

    private static bool TryLock(SafeFileHandle file, string path)
    {
        try
        {
            return Syscalls.TryLockExclusive(file);
        }
        catch (ErrnoException e)
        {
            throw new CommandException($"cannot lock {path}: {e.Message}");
        }
    }

    private static int? ReadPid(SafeFileHandle file)
    {
        var buffer = new byte[31];
        var n = RandomAccess.Read(file, buffer, 0);
        return n > 0 && int.TryParse(Encoding.ASCII.GetString(buffer, 0, n).Trim(), out var pid) && pid > 0 ? pid : null;
    }

    private static void WritePid(SafeFileHandle file, int pid)
    {
        try
        {
            RandomAccess.SetLength(file, 0);
            RandomAccess.Write(file, Encoding.ASCII.GetBytes(pid + "\n"), 0);
        }
        catch (IOException e)
        {
            throw new CommandException($"cannot write the daemon pid to its lock file: {e.Message}");
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
                .Any(l => (Convert.ToUInt64(l[7..].Trim(), 16) & (1UL << (Signal.Kill - 1))) != 0))
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

    public void Dispose() => _file.Dispose();
}
