namespace Hyperlxd.Containers.Cgroups;

/// <summary>
/// Moving a task into a cgroup (a write to <c>cgroup.procs</c>) takes the kernel's global
/// threadgroup rwsem for writing, and the first writer after an idle spell waits out a full RCU
/// grace period (~10 ms on these hosts); writers within a grace period of each other share it.
/// A start or an exec moves the container's first task, so the daemon begins a no-op move of itself
/// into its own cgroup as soon as it knows one is coming: the grace period then runs while it writes
/// the spec and spawns the helper, and the helper's own writes find the lock already warm.
/// Failures are ignored: this only ever saves time.
/// </summary>
internal sealed class MigrationPrimer(string cgroupRoot)
{
    private readonly string? _procs = OwnProcsFile(cgroupRoot);
    private int _inFlight;

    public void Prime()
    {
        if (_procs is null || Interlocked.Exchange(ref _inFlight, 1) == 1)
        {
            return; // one in flight is enough: later writers share its grace period
        }
        ThreadPool.UnsafeQueueUserWorkItem(_ =>
        {
            try
            {
                File.WriteAllText(_procs, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
            finally
            {
                Volatile.Write(ref _inFlight, 0);
            }
        }, null);
    }

    /// <summary>The daemon's own <c>cgroup.procs</c> in the pids hierarchy (v1) or the unified one.</summary>
    private static string? OwnProcsFile(string root)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/cgroup"))
            {
                var f = line.Split(':', 3);
                if (f.Length < 3)
                {
                    continue;
                }
                var candidates = f[1] == "pids" ? new[] { Path.Combine(root, "pids") }
                    : f[1].Length == 0 ? new[] { Path.Combine(root, "unified"), root }
                    : Array.Empty<string>();
                foreach (var mount in candidates)
                {
                    var procs = Path.Combine(mount + f[2].TrimEnd('/'), "cgroup.procs");
                    if (File.Exists(procs) && (mount == root ? File.Exists(Path.Combine(root, "cgroup.controllers")) : true))
                    {
                        return procs;
                    }
                }
            }
        }
        catch (IOException)
        {
        }
        return null;
    }
}
