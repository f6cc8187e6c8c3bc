using System.Globalization;
using Hyperlxd.Containers.Cgroups;
using Hyperlxd.Core.Instances;
using Hyperlxd.Interop.Linux.Netlink;

namespace Hyperlxd.Containers;

public sealed partial class ContainerDriver
{
    /// <summary>
    /// LXD's container metrics (driver_lxc.go Metrics): CPU time per CPU from cpuacct.usage_all (v1) or one
    /// "0" entry from cpu.stat (v2), memory from memory.stat and the effective limit, I/O per disk from blkio
    /// (v1) or io.stat (v2), counters of every interface in the container's network namespace, and its
    /// process count. Null when it is not running.
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
            Math.Max(0, stats.Processes - _spares.Waiting(spec.Name)))
        {
            Disks = CgroupMetrics.Disks(_cgroups.ControllerDir(spec.Name, "blkio")),
        };
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

    /// <summary>
    /// LXD's GetIOStats: bytes and completed requests per block device, named through /proc/partitions —
    /// v1 from blkio.throttle.io_service_bytes_recursive / io_serviced_recursive ("MAJ:MIN Read N" lines),
    /// v2 from io.stat ("MAJ:MIN rbytes=… wbytes=… rios=… wios=…"). Devices /proc/partitions does not name are left out.
    /// </summary>
    public static List<DiskCounters> Disks(string dir, string partitions = "/proc/partitions")
    {
        var names = new Dictionary<string, string>();
        foreach (var line in Lines(partitions))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length == 4 && f[0] != "major")
            {
                names[f[0] + ":" + f[1]] = f[3];
            }
        }
        // Per device: read bytes, reads, written bytes, writes.
        var io = new SortedDictionary<string, long[]>(StringComparer.Ordinal);
        long[] Of(string dev) => io.TryGetValue(dev, out var v) ? v : io[dev] = new long[4];
        var bytesFile = Path.Combine(dir, "blkio.throttle.io_service_bytes_recursive");
        if (File.Exists(bytesFile))
        {
            foreach (var (file, offset) in new[] { (bytesFile, 0), (Path.Combine(dir, "blkio.throttle.io_serviced_recursive"), 1) })
            {
                foreach (var line in Lines(file))
                {
                    var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (f.Length == 3 && names.TryGetValue(f[0], out var dev) && long.TryParse(f[2], CultureInfo.InvariantCulture, out var n)
                        && f[1] is "Read" or "Write")
                    {
                        Of(dev)[offset + (f[1] == "Write" ? 2 : 0)] = n;
                    }
                }
            }
        }
        else
        {
            foreach (var line in Lines(Path.Combine(dir, "io.stat")))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length < 2 || !names.TryGetValue(f[0], out var dev))
                {
                    continue;
                }
                var v = Of(dev);
                foreach (var kv in f.Skip(1))
                {
                    var (key, value) = (kv.Split('=')[0], kv.Split('=').ElementAtOrDefault(1));
                    var index = key switch { "rbytes" => 0, "rios" => 1, "wbytes" => 2, "wios" => 3, _ => -1 };
                    if (index >= 0 && long.TryParse(value, CultureInfo.InvariantCulture, out var n))
                    {
                        v[index] = n;
                    }
                }
            }
        }
        return io.Select(kv => new DiskCounters(kv.Key, kv.Value[0], kv.Value[1], kv.Value[2], kv.Value[3])).ToList();
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
