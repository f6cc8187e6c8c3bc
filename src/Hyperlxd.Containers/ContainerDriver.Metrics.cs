using System.Globalization;
using Hyperlxd.Containers.Cgroups;
using Hyperlxd.Core.Instances;
using Hyperlxd.Interop.Linux.Netlink;

namespace Hyperlxd.Containers;

public sealed partial class ContainerDriver
{
    /// <summary>
    /// LXD's container metrics (driver_lxc.go Metrics): CPU time per CPU from cpuacct.usage_all (v1) or one
    /// "0" entry from cpu.stat (v2), memory from memory.stat and the effective limit, counters of every
    /// interface in the container's network namespace, and its process count. Null when it is not running.
    /// </summary>
    public async Task<InstanceMetrics?> MetricsAsync(InstanceSpec spec, CancellationToken ct)
    {
        var status = await StatusAsync(spec.Name, ct);
        if (status is not { Running: true })
        {
            return null;
        }
        var stats = _cgroups.Stats(spec.Name);
        return new InstanceMetrics(
            CgroupMetrics.Cpu(_cgroups.ControllerDir(spec.Name, "cpuacct"), _cgroups.ControllerDir(spec.Name, "cpu")),
            CgroupMetrics.Memory(_cgroups.ControllerDir(spec.Name, "memory"), stats.MemoryBytes),
            NetworkCounters(status.InitPid),
            Math.Max(0, stats.Processes - _spares.Waiting(spec.Name)));
    }

    private static List<NetworkCounters> NetworkCounters(int pid)
    {
        try
        {
            using var netlink = RtNetlink.OpenIn($"/proc/{pid}/ns/net");
            return netlink.GetLinks().Select(l => new NetworkCounters(l.Name, l.Stats.RxBytes, l.Stats.RxPackets, l.Stats.RxErrors, l.Stats.RxDropped,
                l.Stats.TxBytes, l.Stats.TxPackets, l.Stats.TxErrors, l.Stats.TxDropped)).ToList();
        }
        catch (IOException)
        {
            return [];
        }
    }
}

/// <summary>Reads the cgroup files behind the metrics; the v1 and v2 layouts are told apart by which files exist.</summary>
internal static class CgroupMetrics
{
    /// <summary>v1 memory.stat keys (hierarchical "total_" form, sub-groups of a delegated container included) → LXD's names.</summary>
    private static readonly Dictionary<string, string> V1Names = new()
    {
        ["total_active_anon"] = "Active_anon", ["total_active_file"] = "Active_file", ["total_inactive_anon"] = "Inactive_anon",
        ["total_inactive_file"] = "Inactive_file", ["total_unevictable"] = "Unevictable", ["total_writeback"] = "Writeback",
        ["total_dirty"] = "Dirty", ["total_mapped_file"] = "Mapped", ["total_rss"] = "RSS", ["total_shmem"] = "Shmem", ["total_cache"] = "Cached",
    };

    private static readonly Dictionary<string, string> V2Names = new()
    {
        ["active_anon"] = "Active_anon", ["active_file"] = "Active_file", ["inactive_anon"] = "Inactive_anon",
        ["inactive_file"] = "Inactive_file", ["unevictable"] = "Unevictable", ["file_writeback"] = "Writeback",
        ["file_dirty"] = "Dirty", ["file_mapped"] = "Mapped", ["anon"] = "RSS", ["shmem"] = "Shmem", ["file"] = "Cached",
    };

    public static List<CpuTime> Cpu(string cpuacctDir, string cpuDir)
    {
        var result = new List<CpuTime>();
        var all = Path.Combine(cpuacctDir, "cpuacct.usage_all");
        if (File.Exists(all))
        {
            foreach (var line in Lines(all).Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length == 3 && long.TryParse(f[1], CultureInfo.InvariantCulture, out var user) && long.TryParse(f[2], CultureInfo.InvariantCulture, out var sys))
                {
                    result.Add(new CpuTime(f[0], "system", sys / 1e9));
                    result.Add(new CpuTime(f[0], "user", user / 1e9));
                }
            }
            return result;
        }
        var stat = KeyValues(Path.Combine(cpuDir, "cpu.stat"));
        if (stat.TryGetValue("user_usec", out var u) && stat.TryGetValue("system_usec", out var s))
        {
            result.Add(new CpuTime("0", "system", s / 1e6));
            result.Add(new CpuTime("0", "user", u / 1e6));
        }
        return result;
    }

    /// <summary>memory.stat under LXD's names, Active/Inactive as sums, and MemTotal/MemFree/MemAvailable from the effective limit (the host's memory when unlimited).</summary>
    public static Dictionary<string, long> Memory(string memoryDir, long usage)
    {
        var stat = KeyValues(Path.Combine(memoryDir, "memory.stat"));
        var v1 = stat.ContainsKey("total_rss");
        var result = new Dictionary<string, long>();
        foreach (var (key, name) in v1 ? V1Names : V2Names)
        {
            if (stat.TryGetValue(key, out var value))
            {
                result[name] = value;
            }
        }
        if (result.TryGetValue("Active_anon", out var aa) && result.TryGetValue("Active_file", out var af))
        {
            result["Active"] = aa + af;
        }
        if (result.TryGetValue("Inactive_anon", out var ia) && result.TryGetValue("Inactive_file", out var @if))
        {
            result["Inactive"] = ia + @if;
        }
        var limit = CgroupDetector.ReadLong(Path.Combine(memoryDir, v1 ? "memory.limit_in_bytes" : "memory.max"));
        var host = HostMemory();
        if (limit <= 0 || limit >= host)
        {
            limit = host;
        }
        if (limit > 0)
        {
            result["MemTotal"] = limit;
            result["MemFree"] = Math.Max(0, limit - usage);
            result["MemAvailable"] = Math.Max(0, limit - usage + result.GetValueOrDefault("Cached"));
        }
        var swapFile = Path.Combine(memoryDir, v1 ? "memory.memsw.usage_in_bytes" : "memory.swap.current");
        if (File.Exists(swapFile))
        {
            var swap = CgroupDetector.ReadLong(swapFile);
            result["Swap"] = v1 ? Math.Max(0, swap - usage) : swap;
        }
        return result;
    }

    private static long HostMemory()
    {
        foreach (var line in Lines("/proc/meminfo"))
        {
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal)
                && long.TryParse(line[9..].Trim().Split(' ')[0], CultureInfo.InvariantCulture, out var kb))
            {
                return kb * 1024;
            }
        }
        return 0;
    }

    private static Dictionary<string, long> KeyValues(string file)
    {
        var result = new Dictionary<string, long>();
        foreach (var line in Lines(file))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length == 2 && long.TryParse(f[1], CultureInfo.InvariantCulture, out var v))
            {
                result[f[0]] = v;
            }
        }
        return result;
    }

    private static IEnumerable<string> Lines(string file)
    {
        try
        {
            return File.ReadAllLines(file);
        }
        catch (IOException)
        {
            return [];
        }
    }
}
