using static Hyperlxd.Containers.Cgroups.CgroupDetector;

namespace Hyperlxd.Containers.Cgroups;

/// <summary>
/// cgroup v2 (unified hierarchy with the resource controllers). Devices would need an eBPF program
/// (not done yet: the allow-list is only enforced on v1).
/// </summary>
internal sealed class CgroupV2Backend(string root, string parent) : ICgroupBackend
{
    public string Name => "cgroup2";

    private string Parent => Path.Combine(root, parent);

    private string Dir(string name) => Path.Combine(Parent, name);

    public IReadOnlyList<string> Paths(string name) => new[] { Dir(name) };

    public void Create(string name, CgroupLimits limits)
    {
        Directory.CreateDirectory(Parent);
        var available = File.ReadAllText(Path.Combine(root, "cgroup.controllers")).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var c in new[] { "cpuset", "cpu", "memory", "pids" }.Where(available.Contains))
        {
            foreach (var dir in new[] { root, Parent })
            {
                try
                {
                    Write(Path.Combine(dir, "cgroup.subtree_control"), "+" + c);
                }
                catch (IOException)
                {
                    // Already enabled, or the root refuses (then the limit below fails with a clear error).
                }
            }
        }
        Directory.CreateDirectory(Dir(name));
        Apply(name, limits);
    }

    public void Apply(string name, CgroupLimits limits)
    {
        var dir = Dir(name);
        var cpus = Path.Combine(dir, "cpuset.cpus");
        if (File.Exists(cpus))
        {
            Write(cpus, limits.EffectiveCpuSet(File.ReadAllText(Path.Combine(Parent, "cpuset.cpus.effective")).Trim()));
        }
        if (File.Exists(Path.Combine(dir, "cpu.max")))
        {
            Write(Path.Combine(dir, "cpu.max"), $"{(limits.CpuQuotaUs is { } q ? q.ToString() : "max")} {limits.CpuPeriodUs}");
            // cpu.weight is 1..10000 with 100 as the default (shares 1024).
            Write(Path.Combine(dir, "cpu.weight"), Math.Clamp((limits.CpuShares ?? 1024) * 100 / 1024, 1, 10000).ToString());
        }
        var mem = limits.MemoryBytes?.ToString() ?? "max";
        Write(Path.Combine(dir, limits.MemorySoft ? "memory.high" : "memory.max"), mem);
        Write(Path.Combine(dir, limits.MemorySoft ? "memory.max" : "memory.high"), "max");
        if (File.Exists(Path.Combine(dir, "memory.swap.max")))
        {
            Write(Path.Combine(dir, "memory.swap.max"), limits.Swap ? "max" : "0");
        }
        Write(Path.Combine(dir, "pids.max"), limits.Processes?.ToString() ?? "max");
    }

    public void Freeze(string name, bool frozen)
    {
        Write(Path.Combine(Dir(name), "cgroup.freeze"), frozen ? "1" : "0");
        for (var i = 0; i < 1000 && IsFrozen(name) != frozen; i++)
        {
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

    public CgroupStats Stats(string name)
    {
        var dir = Dir(name);
        long cpu = 0;
        try
        {
            foreach (var line in File.ReadLines(Path.Combine(dir, "cpu.stat")))
            {
                if (line.StartsWith("usage_usec ", StringComparison.Ordinal))
                {
                    cpu = long.Parse(line[11..]) * 1000;
                }
            }
        }
        catch (IOException)
        {
        }
        return new CgroupStats(cpu, ReadLong(Path.Combine(dir, "memory.current")), ReadLong(Path.Combine(dir, "memory.peak")),
            (int)ReadLong(Path.Combine(dir, "pids.current")));
    }

    public Task<bool> RemoveAsync(string name, CancellationToken ct) => RemoveDirAsync(Dir(name), ct);

    public IReadOnlyCollection<string> List() =>
        Directory.Exists(Parent) ? Directory.EnumerateDirectories(Parent).Select(d => Path.GetFileName(d)!).ToList() : new List<string>();
}
