using System.Globalization;
using static Hyperlxd.Containers.Cgroups.CgroupDetector;

namespace Hyperlxd.Containers.Cgroups;

/// <summary>
/// cgroup v2: one group per container at <c>root/parent/name</c>. Works with whatever controllers the
/// hierarchy offers: on a hybrid host (cgroup2 at /sys/fs/cgroup/unified, no resource controllers)
/// membership, freeze, kill, process count and CPU time (<c>cpu.stat</c> is always there) still work,
/// and a limit whose controller is missing is refused naming both. The device allow-list is an eBPF
/// program the monitor attaches to the group before init starts (spec lines <c>device-allow</c>).
/// </summary>
internal sealed class CgroupV2Backend(string root, string parent) : ICgroupBackend
{
    /// <summary>How long a freeze may take before it is given up and undone (tasks in uninterruptible sleep).</summary>
    private static readonly TimeSpan FreezeTimeout = TimeSpan.FromSeconds(10);

    public string Name => "cgroup2";

    private string Parent => Path.Combine(root, parent);

    private string Dir(string name) => Path.Combine(Parent, name);

    public void RemoveParent() => CgroupV1Backend.RemoveEmpty(Parent);

    public IReadOnlyList<string> Paths(string name) => new[] { Dir(name) };

    public void Create(string name, CgroupLimits limits)
    {
        Directory.CreateDirectory(Parent);
        CgroupDelegation.MakeTraversable(Parent);
        EnableControllers(limits);
        Directory.CreateDirectory(Dir(name));
        Apply(name, limits);
    }

    public IEnumerable<string> MonitorDeviceRules(CgroupLimits limits) => limits.DeviceAllowList();

    public bool AllowDevice(string name, string rule, bool allow) => false;

    public void CheckLimits(CgroupLimits limits)
    {
        var offered = Controllers(root);
        foreach (var (key, controller) in limits.Needs)
        {
            if (!offered.Contains(controller))
            {
                throw CgroupLimits.Missing(key, controller);
            }
        }
    }

    /// <summary>
    /// Makes each controller the limits need available in the container groups: enabled in the
    /// subtree_control of every level from the root down to the parent, where not already. Everything
    /// is checked before the first write, so a missing controller changes nothing.
    /// </summary>
    private void EnableControllers(CgroupLimits limits)
    {
        CheckLimits(limits);
        var levels = new List<string> { root };
        foreach (var part in parent.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            levels.Add(Path.Combine(levels[^1], part));
        }
        foreach (var (key, controller) in limits.Needs.DistinctBy(n => n.Value))
        {
            foreach (var level in levels)
            {
                var control = Path.Combine(level, "cgroup.subtree_control");
                if (Words(control).Contains(controller))
                {
                    continue;
                }
                try
                {
                    Write(control, "+" + controller);
                }
                catch (IOException e)
                {
                    throw new BadRequestException($"Failed applying {key}: the {controller} cgroup controller cannot be enabled in {level}: {e.Message}", e);
                }
            }
        }
    }

    public void Apply(string name, CgroupLimits limits)
    {
        var dir = Dir(name);
        // All checks first (controllers, cpuset), then the writes: a refused change leaves the group as it was.
        CheckLimits(limits);
        string? cpus = null;
        if (limits.Needs.Any(n => n.Value == "cpuset"))
        {
            cpus = limits.EffectiveCpuSet(File.ReadAllText(Path.Combine(root, "cpuset.cpus.effective")).Trim());
        }
        EnableControllers(limits);
        var have = Controllers(dir);
        if (have.Contains("cpuset"))
        {
            Write(Path.Combine(dir, "cpuset.cpus"), cpus ?? "\n"); // empty: the parent's CPUs
        }
        if (have.Contains("cpu"))
        {
            Write(Path.Combine(dir, "cpu.max"), $"{(limits.CpuQuotaUs is { } q ? q.ToString(CultureInfo.InvariantCulture) : "max")} {limits.CpuPeriodUs}");
            // cpu.weight is 1..10000 with 100 as the default (shares 1024).
            Write(Path.Combine(dir, "cpu.weight"), Math.Clamp((limits.CpuShares ?? 1024) * 100 / 1024, 1, 10000).ToString(CultureInfo.InvariantCulture));
        }
        if (have.Contains("memory"))
        {
            var mem = limits.MemoryBytes?.ToString(CultureInfo.InvariantCulture) ?? "max";
            Write(Path.Combine(dir, limits.MemorySoft ? "memory.high" : "memory.max"), mem);
            Write(Path.Combine(dir, limits.MemorySoft ? "memory.max" : "memory.high"), "max");
            if (File.Exists(Path.Combine(dir, "memory.swap.max")))
            {
                Write(Path.Combine(dir, "memory.swap.max"), limits.Swap ? "max" : "0");
            }
        }
        if (have.Contains("pids"))
        {
            Write(Path.Combine(dir, "pids.max"), limits.Processes?.ToString(CultureInfo.InvariantCulture) ?? "max");
        }
    }

    /// <summary>Writes cgroup.freeze and waits for <c>frozen 1</c> (or 0) in cgroup.events; a freeze that does not settle is undone.</summary>
    public void Freeze(string name, bool frozen)
    {
        var file = Path.Combine(Dir(name), "cgroup.freeze");
        Write(file, frozen ? "1" : "0");
        var until = DateTime.UtcNow + FreezeTimeout;
        while (IsFrozen(name) != frozen)
        {
            if (DateTime.UtcNow > until)
            {
                if (frozen)
                {
                    Write(file, "0");
                }
                throw new TransientException($"Failed {(frozen ? "freezing" : "thawing")} the container: cgroup.events does not say frozen {(frozen ? 1 : 0)}");
            }
            Thread.Sleep(1);
        }
    }

    public bool IsFrozen(string name)
    {
        try
        {
            return File.ReadLines(Path.Combine(Dir(name), "cgroup.events")).Contains("frozen 1");
        }
        catch (IOException)
        {
            return false;
        }
    }

    public bool Kill(string name)
    {
        var file = Path.Combine(Dir(name), "cgroup.kill");
        try
        {
            if (File.Exists(file))
            {
                Write(file, "1");
                return true;
            }
        }
        catch (IOException)
        {
            // The group went away meanwhile: nothing left to kill here.
        }
        return false;
    }

    public string ControllerDir(string name, string controller) => Dir(name);

    public CgroupStats Stats(string name)
    {
        var dir = Dir(name);
        long cpu = 0;
        try
        {
            // usage_usec is there without the cpu controller (core accounting).
            foreach (var line in File.ReadLines(Path.Combine(dir, "cpu.stat")))
            {
                if (line.StartsWith("usage_usec ", StringComparison.Ordinal))
                {
                    cpu = long.Parse(line[11..], CultureInfo.InvariantCulture) * 1000;
                }
            }
        }
        catch (IOException)
        {
        }
        return new CgroupStats(cpu, ReadLong(Path.Combine(dir, "memory.current")), ReadLong(Path.Combine(dir, "memory.peak")), CountProcesses(dir));
    }

    /// <summary>cgroup.procs lists a group's own members only: add up the subtree (pids.current needs the pids controller).</summary>
    private static int CountProcesses(string dir)
    {
        var count = 0;
        try
        {
            count = File.ReadLines(Path.Combine(dir, "cgroup.procs")).Count(l => l.Length > 0);
            foreach (var sub in Directory.EnumerateDirectories(dir))
            {
                count += CountProcesses(sub);
            }
        }
        catch (IOException)
        {
        }
        return count;
    }

    public async Task<bool> RemoveAsync(string name, CancellationToken ct)
    {
        var dir = Dir(name);
        if (!Directory.Exists(dir))
        {
            return true;
        }
        // Children first (a group a nested workload made), then the container's own.
        var ok = true;
        foreach (var sub in Directory.EnumerateDirectories(dir, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length))
        {
            ok &= await RemoveDirAsync(sub, ct);
        }
        return await RemoveDirAsync(dir, ct) && ok;
    }

    public IReadOnlyCollection<string> List() =>
        Directory.Exists(Parent) ? Directory.EnumerateDirectories(Parent).Select(d => Path.GetFileName(d)!).ToList() : new List<string>();
}
