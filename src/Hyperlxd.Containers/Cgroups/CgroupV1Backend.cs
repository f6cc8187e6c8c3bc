using static Hyperlxd.Containers.Cgroups.CgroupDetector;

namespace Hyperlxd.Containers.Cgroups;

/// <summary>
/// cgroup v1: one hierarchy per controller (these hosts: hybrid, resources on v1), plus the unified
/// hierarchy for membership only when mounted.
/// </summary>
internal sealed class CgroupV1Backend(string root, string? unified, string group) : ICgroupBackend
{
    // blkio: no limits applied here, but its counters feed /1.0/metrics' lxd_disk_* (as LXD, which joins it too).
    private static readonly string[] Controllers = { "cpuset", "cpu", "cpuacct", "memory", "pids", "devices", "freezer", "blkio" };

    public string Name => "cgroup1";

    private string Dir(string controller, string name) => Path.Combine(root, controller, group, name);

    private IEnumerable<string> Hierarchies()
    {
        foreach (var c in Controllers)
        {
            if (Directory.Exists(Path.Combine(root, c)))
            {
                yield return Path.Combine(root, c);
            }
        }
        if (unified is not null)
        {
            yield return unified;
        }
    }

    public IReadOnlyList<string> Paths(string name) => Hierarchies().Select(h => Path.Combine(h, group, name)).ToList();

    public void Create(string name, CgroupLimits limits)
    {
        CheckLimits(limits);
        foreach (var h in Hierarchies())
        {
            var parent = Path.Combine(h, group);
            if (!Directory.Exists(parent))
            {
                Directory.CreateDirectory(parent);
                if (h.EndsWith("/cpuset", StringComparison.Ordinal))
                {
                    CopyCpuset(h, parent);
                }
            }
            CgroupDelegation.MakeTraversable(parent);
            Directory.CreateDirectory(Path.Combine(parent, name));
        }
        // v1 cpuset starts empty at each new level: fill it before any task joins.
        var cpuset = Dir("cpuset", name);
        if (Directory.Exists(cpuset))
        {
            Write(Path.Combine(cpuset, "cpuset.mems"), File.ReadAllText(Path.Combine(root, "cpuset", group, "cpuset.mems")).Trim());
        }
        var devices = Dir("devices", name);
        if (Directory.Exists(devices))
        {
            Write(Path.Combine(devices, "devices.deny"), "a");
            foreach (var rule in limits.DeviceAllowList())
            {
                Write(Path.Combine(devices, "devices.allow"), rule);
            }
        }
        var blkio = Dir("blkio", name);
        if (Directory.Exists(blkio))
        {
            EnableIoStats(blkio);
        }
        Apply(name, limits);
    }

    /// <summary>
    /// Recent kernels count v1 blkio.throttle.io_service* only on disks where throttling was ever configured
    /// (the queue's throttle data is made on the first rule). A "MAJ:MIN 0" rule sets no limit but makes it,
    /// so the lxd_disk_* metrics see the container's I/O on every whole disk, as LXD's hosts (with rules) do.
    /// </summary>
    private static void EnableIoStats(string dir)
    {
        string[] disks;
        try
        {
            disks = Directory.GetDirectories("/sys/block");
        }
        catch (IOException)
        {
            return;
        }
        foreach (var disk in disks)
        {
            try
            {
                Write(Path.Combine(dir, "blkio.throttle.read_bps_device"), File.ReadAllText(Path.Combine(disk, "dev")).Trim() + " 0");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // a device without a queue (an unbound loop device...): nothing to count there
            }
        }
    }

    private static void CopyCpuset(string from, string to)
    {
        foreach (var f in new[] { "cpuset.cpus", "cpuset.mems" })
        {
            Write(Path.Combine(to, f), File.ReadAllText(Path.Combine(from, f)).Trim());
        }
    }

    public bool AllowDevice(string name, string rule, bool allow)
    {
        var devices = Dir("devices", name);
        if (Directory.Exists(devices))
        {
            Write(Path.Combine(devices, allow ? "devices.allow" : "devices.deny"), rule);
        }
        return true;
    }

    /// <summary>Written to devices.allow by Create.</summary>
    public IEnumerable<string> MonitorDeviceRules(CgroupLimits limits) => [];

    public void CheckLimits(CgroupLimits limits)
    {
        foreach (var (key, controller) in limits.Needs)
        {
            if (!Directory.Exists(Path.Combine(root, controller)))
            {
                throw CgroupLimits.Missing(key, controller);
            }
        }
    }

    public void Apply(string name, CgroupLimits limits)
    {
        CheckLimits(limits);
        // Validate the cpuset, then memory: the one write that can fail late (EBUSY below usage). So nothing is half-applied.
        var available = File.ReadAllText(Path.Combine(root, "cpuset", group, "cpuset.cpus")).Trim();
        _ = limits.EffectiveCpuSet(available);
        var memory = Dir("memory", name);
        if (Directory.Exists(memory))
        {
            ApplyMemory(memory, limits);
        }
        var cpuset = Dir("cpuset", name);
        if (Directory.Exists(cpuset))
        {
            Write(Path.Combine(cpuset, "cpuset.cpus"), limits.EffectiveCpuSet(available));
        }
        var cpu = Dir("cpu", name);
        if (Directory.Exists(cpu))
        {
            Write(Path.Combine(cpu, "cpu.cfs_period_us"), limits.CpuPeriodUs.ToString());
            Write(Path.Combine(cpu, "cpu.cfs_quota_us"), (limits.CpuQuotaUs ?? -1).ToString());
            Write(Path.Combine(cpu, "cpu.shares"), (limits.CpuShares ?? 1024).ToString());
        }
        var pids = Dir("pids", name);
        if (Directory.Exists(pids))
        {
            Write(Path.Combine(pids, "pids.max"), limits.Processes?.ToString() ?? "max");
        }
    }

    private static void ApplyMemory(string dir, CgroupLimits limits)
    {
        var limit = Path.Combine(dir, "memory.limit_in_bytes");
        var soft = Path.Combine(dir, "memory.soft_limit_in_bytes");
        var memsw = Path.Combine(dir, "memory.memsw.limit_in_bytes");
        var hard = limits.MemorySoft || limits.MemoryBytes is null ? "-1" : limits.MemoryBytes.Value.ToString();
        var swap = !limits.Swap && hard != "-1" ? hard : "-1";
        Write(soft, limits.MemorySoft && limits.MemoryBytes is { } s ? s.ToString() : "-1");
        if (!File.Exists(memsw))
        {
            WriteLimit(limit, hard);
            return;
        }
        // memsw must stay >= the memory limit: order the two writes by direction.
        try
        {
            WriteLimit(limit, hard);
            WriteLimit(memsw, swap);
        }
        catch (IOException)
        {
            WriteLimit(memsw, swap);
            WriteLimit(limit, hard);
        }
    }

    private static void WriteLimit(string file, string value)
    {
        try
        {
            Write(file, value);
        }
        catch (IOException e) when (e.HResult == 16 || e.Message.Contains("busy", StringComparison.OrdinalIgnoreCase))
        {
            throw new BadRequestException($"Invalid value for config key \"limits.memory\": \"{value}\": the container uses more memory than that", e);
        }
    }

    public void Freeze(string name, bool frozen)
    {
        var state = Path.Combine(Dir("freezer", name), "freezer.state");
        var want = frozen ? "FROZEN" : "THAWED";
        for (var i = 0; i < 1000; i++)
        {
            Write(state, want);
            if (File.ReadAllText(state).Trim() == want)
            {
                return;
            }
            Thread.Sleep(1);
        }
        throw new TransientException($"Failed {(frozen ? "freezing" : "thawing")} the container: freezer stays {File.ReadAllText(state).Trim()}");
    }

    /// <summary>v1 has no cgroup.kill: the monitor's SIGKILL to init ends the PID namespace instead.</summary>
    public bool Kill(string name) => false;

    public bool IsFrozen(string name)
    {
        try
        {
            return File.ReadAllText(Path.Combine(Dir("freezer", name), "freezer.state")).Trim() != "THAWED";
        }
        catch (IOException)
        {
            return false;
        }
    }

    public string ControllerDir(string name, string controller) => Dir(controller, name);

    public CgroupStats Stats(string name)
    {
        var memory = Dir("memory", name);
        var procs = 0;
        try
        {
            procs = File.ReadAllLines(Path.Combine(Dir("pids", name), "cgroup.procs")).Length;
        }
        catch (IOException)
        {
        }
        return new CgroupStats(
            ReadLong(Path.Combine(Dir("cpuacct", name), "cpuacct.usage")),
            ReadLong(Path.Combine(memory, "memory.usage_in_bytes")),
            ReadLong(Path.Combine(memory, "memory.max_usage_in_bytes")),
            procs);
    }

    public async Task<bool> RemoveAsync(string name, CancellationToken ct)
    {
        var ok = true;
        foreach (var dir in Paths(name))
        {
            ok &= await RemoveDirAsync(dir, ct);
        }
        return ok;
    }

    public void RemoveParent()
    {
        foreach (var h in Hierarchies())
        {
            RemoveEmpty(Path.Combine(h, group));
        }
    }

    /// <summary>rmdir: a group with child groups (or tasks) refuses, and stays.</summary>
    internal static void RemoveEmpty(string dir)
    {
        try
        {
            Directory.Delete(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    public IReadOnlyCollection<string> List()
    {
        var names = new HashSet<string>();
        foreach (var h in Hierarchies())
        {
            var parent = Path.Combine(h, group);
            if (Directory.Exists(parent))
            {
                foreach (var d in Directory.EnumerateDirectories(parent))
                {
                    names.Add(Path.GetFileName(d));
                }
            }
        }
        return names;
    }
}
