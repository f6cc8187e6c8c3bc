using System.Globalization;
using System.Xml.Linq;
using Hyperlxd.Core.Instances;
using Hyperlxd.Interop.Libvirt;

namespace Hyperlxd.Vms;

public sealed partial class VmDriver
{
    /// <summary>LXD 5.0.2's CPU modes per vCPU (metrics.MetricSetFromAPI): the host sees only user and system time, the rest stay 0.</summary>
    private static readonly string[] CpuModes = ["iowait", "irq", "idle", "nice", "softirq", "steal", "system", "user"];

    /// <summary>LXD's memory families; without an agent it knows only the three totals and reports the others as 0.</summary>
    private static readonly string[] MemoryNames =
    [
        "Active_anon", "Active", "Active_file", "Cached", "Dirty", "HugepagesFree", "HugepagesTotal", "Inactive_anon", "Inactive",
        "Inactive_file", "Mapped", "MemAvailable", "MemFree", "MemTotal", "RSS", "Shmem", "Swap", "Unevictable", "Writeback",
    ];

    /// <summary>
    /// A running VM's figures as LXD 5.0.2 reports them when it has no lxd-agent to ask (driver_qemu_metrics.go
    /// getQemuMetrics), read from the host through libvirt: user/system time of each vCPU thread, memory from
    /// the balloon size and QEMU's resident set (the guest's own view when its balloon driver reports one),
    /// block I/O per disk (named as LXD's QEMU device id, "dev-lxd_root") and each nic's counters by its
    /// device name. Null when the VM does not run.
    /// </summary>
    public Task<InstanceMetrics?> MetricsAsync(InstanceSpec spec, CancellationToken ct) => Blocking(() =>
    {
        try
        {
            return Metrics(spec);
        }
        catch (LibvirtException)
        {
            return null; // stopped or gone meanwhile: left out of this scrape, which goes on with the others
        }
    });

    private InstanceMetrics? Metrics(InstanceSpec spec)
    {
        using var domain = Lookup(spec);
        if (domain is null || Status(domain.GetState().State) == InstanceStatus.Stopped)
        {
            return null;
        }
        var xml = XDocument.Parse(domain.GetXmlDesc());
        var pid = QemuPid(domain.Name);
        var cpu = new List<CpuTime>();
        foreach (var (index, user, system) in VcpuTimes(pid))
        {
            foreach (var mode in CpuModes)
            {
                cpu.Add(new CpuTime(index.ToString(CultureInfo.InvariantCulture), mode, mode == "user" ? user : mode == "system" ? system : 0));
            }
        }
        return new InstanceMetrics(cpu, MemoryMetrics(spec, domain, pid), NicMetrics(spec, domain, xml), 0) { Disks = DiskMetrics(spec, domain, xml) };
    }

    /// <summary>
    /// Seconds of user (less guest) and system time of each vCPU thread of QEMU (/proc/PID/task/TID/stat,
    /// utime − guest_time and stime in clock ticks, as LXD reads them). libvirt starts QEMU with
    /// <c>debug-threads=on</c>, so each vCPU thread is named "CPU N/KVM" or "CPU N/TCG".
    /// </summary>
    internal static List<(int Index, double User, double System)> VcpuTimes(int pid)
    {
        var result = new List<(int, double, double)>();
        if (pid <= 0)
        {
            return result;
        }
        string[] tasks;
        try
        {
            tasks = Directory.GetDirectories($"/proc/{pid}/task");
        }
        catch (IOException)
        {
            return result;
        }
        const double ticks = 100; // USER_HZ: /proc's clock ticks are 1/100 s on Linux whatever the kernel's HZ (LXD divides by 100 too)
        foreach (var task in tasks)
        {
            try
            {
                var comm = File.ReadAllText(Path.Combine(task, "comm")).Trim();
                if (!comm.StartsWith("CPU ", StringComparison.Ordinal) || !int.TryParse(comm[4..comm.IndexOf('/', StringComparison.Ordinal)], CultureInfo.InvariantCulture, out var index))
                {
                    continue;
                }
                if (ParseTaskStat(File.ReadAllText(Path.Combine(task, "stat"))) is { } t)
                {
                    result.Add((index, Math.Max(0, t.Utime - t.GuestTime) / ticks, t.Stime / ticks));
                }
            }
            catch (Exception e) when (e is IOException or ArgumentOutOfRangeException)
            {
                // the thread ended meanwhile
            }
        }
        return result.OrderBy(r => r.Item1).ToList();
    }

    /// <summary>utime, stime and guest_time (fields 14, 15 and 43 of proc(5)) of a stat line; the name in parentheses may hold spaces.</summary>
    internal static (long Utime, long Stime, long GuestTime)? ParseTaskStat(string stat)
    {
        var close = stat.LastIndexOf(')');
        if (close < 0)
        {
            return null;
        }
        // Fields after the name start at field 3 (state): field N is at index N − 3.
        var f = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return f.Length > 40 && long.TryParse(f[11], CultureInfo.InvariantCulture, out var utime) && long.TryParse(f[12], CultureInfo.InvariantCulture, out var stime)
            && long.TryParse(f[40], CultureInfo.InvariantCulture, out var guest)
            ? (utime, stime, guest)
            : null;
    }

    /// <summary>
    /// LXD's fallback: MemTotal is the VM's memory (the balloon's current size, limits.memory at start),
    /// MemFree = MemAvailable = that less QEMU's resident memory. A guest whose balloon driver reports
    /// statistics gives its own total, free, available and cache figures instead.
    /// </summary>
    private Dictionary<string, long> MemoryMetrics(InstanceSpec spec, LibvirtDomain domain, int pid)
    {
        var result = MemoryNames.ToDictionary(n => n, _ => 0L);
        DomainMemoryStats? stats = null;
        try
        {
            stats = domain.MemoryStats();
        }
        catch (LibvirtException)
        {
        }
        if (stats is { Available: { } available, Unused: { } unused })
        {
            result["MemTotal"] = available;
            result["MemFree"] = unused;
            result["MemAvailable"] = stats.Usable ?? unused;
            result["Cached"] = stats.DiskCaches ?? 0;
            return result;
        }
        var total = stats?.ActualBalloon ?? VmResources.From(spec.Config).MemoryBytes;
        var rss = stats?.Rss ?? Memory(pid).Rss;
        result["MemTotal"] = total;
        result["MemFree"] = result["MemAvailable"] = Math.Max(0, total - rss);
        return result;
    }

    /// <summary>virDomainBlockStats of each disk of the live definition; the root disk is labelled as LXD's QEMU device id for it.</summary>
    private static List<DiskCounters> DiskMetrics(InstanceSpec spec, LibvirtDomain domain, XDocument xml)
    {
        var root = spec.Devices.Where(d => d.Value.GetValueOrDefault("type") == "disk" && d.Value.GetValueOrDefault("path") == "/")
            .Select(d => d.Key).FirstOrDefault() ?? "root";
        var result = new List<DiskCounters>();
        foreach (var disk in xml.Descendants("disk").Where(d => d.Attribute("device")?.Value == "disk"))
        {
            if (disk.Element("target")?.Attribute("dev")?.Value is not { Length: > 0 } target)
            {
                continue;
            }
            try
            {
                var s = domain.BlockStats(target);
                var device = target == "vda" ? "dev-lxd_" + root : target;
                result.Add(new DiskCounters(device, Math.Max(0, s.ReadBytes), Math.Max(0, s.ReadRequests), Math.Max(0, s.WriteBytes), Math.Max(0, s.WriteRequests)));
            }
            catch (LibvirtException)
            {
            }
        }
        return result;
    }

    /// <summary>Each interface's counters (libvirt reports a tap's from the guest's side), named as the nic device whose tap it is.</summary>
    private static List<NetworkCounters> NicMetrics(InstanceSpec spec, LibvirtDomain domain, XDocument xml)
    {
        var result = new List<NetworkCounters>();
        foreach (var tap in xml.Descendants("interface").Select(i => i.Element("target")?.Attribute("dev")?.Value).OfType<string>().Where(t => t.Length > 0))
        {
            try
            {
                var s = domain.InterfaceStats(tap);
                result.Add(new NetworkCounters(NicDevice(spec, tap) ?? tap, Math.Max(0, s.RxBytes), Math.Max(0, s.RxPackets), Math.Max(0, s.RxErrors),
                    Math.Max(0, s.RxDrops), Math.Max(0, s.TxBytes), Math.Max(0, s.TxPackets), Math.Max(0, s.TxErrors), Math.Max(0, s.TxDrops)));
            }
            catch (LibvirtException)
            {
            }
        }
        return result;
    }
}
