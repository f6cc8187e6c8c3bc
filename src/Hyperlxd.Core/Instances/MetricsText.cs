using System.Globalization;
using System.Text;

namespace Hyperlxd.Core.Instances;

/// <summary>
/// The Prometheus text exposition LXD 5.0.2 serves on <c>/1.0/metrics</c> (lxd/metrics/metrics.go): one family
/// per metric name across all instances, in LXD's order, each with its HELP and TYPE lines, labels sorted by
/// name, values in the shortest round-trip form, and a closing <c># EOF</c>.
/// </summary>
public static class MetricsText
{
    public sealed record Sample(IReadOnlyDictionary<string, string> Labels, double Value);

    /// <summary>LXD's metric types in its order (the numeric order of lxd/metrics/types.go), with their help text.</summary>
    public static readonly IReadOnlyList<(string Name, string Help)> Families =
    [
        ("lxd_cpu_seconds_total", "The total number of CPU time used in seconds."),
        ("lxd_disk_read_bytes_total", "The total number of bytes read."),
        ("lxd_disk_reads_completed_total", "The total number of completed reads."),
        ("lxd_disk_written_bytes_total", "The total number of bytes written."),
        ("lxd_disk_writes_completed_total", "The total number of completed writes."),
        ("lxd_filesystem_avail_bytes", "The number of available space in bytes."),
        ("lxd_filesystem_free_bytes", "The number of free space in bytes."),
        ("lxd_filesystem_size_bytes", "The size of the filesystem in bytes."),
        ("lxd_memory_Active_anon_bytes", "The amount of anonymous memory on active LRU list."),
        ("lxd_memory_Active_file_bytes", "The amount of file-backed memory on active LRU list."),
        ("lxd_memory_Active_bytes", "The amount of memory on active LRU list."),
        ("lxd_memory_Cached_bytes", "The amount of cached memory."),
        ("lxd_memory_Dirty_bytes", "The amount of memory waiting to get written back to the disk."),
        ("lxd_memory_HugepagesFree_bytes", "The amount of free memory for hugetlb."),
        ("lxd_memory_HugepagesTotal_bytes", "The amount of used memory for hugetlb."),
        ("lxd_memory_Inactive_anon_bytes", "The amount of anonymous memory on inactive LRU list."),
        ("lxd_memory_Inactive_file_bytes", "The amount of file-backed memory on inactive LRU list."),
        ("lxd_memory_Inactive_bytes", "The amount of memory on inactive LRU list."),
        ("lxd_memory_Mapped_bytes", "The amount of mapped memory."),
        ("lxd_memory_MemAvailable_bytes", "The amount of available memory."),
        ("lxd_memory_MemFree_bytes", "The amount of free memory."),
        ("lxd_memory_MemTotal_bytes", "The amount of used memory."),
        ("lxd_memory_RSS_bytes", "The amount of anonymous and swap cache memory."),
        ("lxd_memory_Shmem_bytes", "The amount of cached filesystem data that is swap-backed."),
        ("lxd_memory_Swap_bytes", "The amount of used swap memory."),
        ("lxd_memory_Unevictable_bytes", "The amount of unevictable memory."),
        ("lxd_memory_Writeback_bytes", "The amount of memory queued for syncing to disk."),
        ("lxd_network_receive_bytes_total", "The amount of received bytes on a given interface."),
        ("lxd_network_receive_drop_total", "The amount of received dropped bytes on a given interface."),
        ("lxd_network_receive_errs_total", "The amount of received errors on a given interface."),
        ("lxd_network_receive_packets_total", "The amount of received packets on a given interface."),
        ("lxd_network_transmit_bytes_total", "The amount of transmitted bytes on a given interface."),
        ("lxd_network_transmit_drop_total", "The amount of transmitted dropped bytes on a given interface."),
        ("lxd_network_transmit_errs_total", "The amount of transmitted errors on a given interface."),
        ("lxd_network_transmit_packets_total", "The amount of transmitted packets on a given interface."),
        ("lxd_procs_total", "The number of running processes."),
    ];

    private static readonly Dictionary<string, int> Order = Families.Select((f, i) => (f.Name, i)).ToDictionary(x => x.Name, x => x.i);

    /// <summary>Collects the samples of many instances, then writes them family by family.</summary>
    public sealed class Builder
    {
        private readonly Dictionary<string, List<Sample>> _set = new();

        public void Add(string name, double value, IReadOnlyDictionary<string, string> labels)
        {
            if (!Order.ContainsKey(name))
            {
                throw new ArgumentException($"unknown metric {name}", nameof(name));
            }
            if (!_set.TryGetValue(name, out var list))
            {
                _set[name] = list = new List<Sample>();
            }
            list.Add(new Sample(labels, value));
        }

        /// <summary>Adds one instance's figures with its <c>name</c>, <c>project</c> and <c>type</c> labels (filesystems without <c>type</c>, as LXD).</summary>
        public void AddInstance(string instance, string project, string type, InstanceMetrics m)
        {
            Dictionary<string, string> L(string? withType, params (string, string)[] extra)
            {
                var d = new Dictionary<string, string> { ["name"] = instance, ["project"] = project };
                if (withType is not null)
                {
                    d["type"] = withType;
                }
                foreach (var (k, v) in extra)
                {
                    d[k] = v;
                }
                return d;
            }
            foreach (var c in m.Cpu)
            {
                Add("lxd_cpu_seconds_total", c.Seconds, L(type, ("cpu", c.Cpu), ("mode", c.Mode)));
            }
            foreach (var d in m.Disks)
            {
                var labels = L(type, ("device", d.Device));
                Add("lxd_disk_read_bytes_total", d.ReadBytes, labels);
                Add("lxd_disk_reads_completed_total", d.ReadsCompleted, labels);
                Add("lxd_disk_written_bytes_total", d.WrittenBytes, labels);
                Add("lxd_disk_writes_completed_total", d.WritesCompleted, labels);
            }
            foreach (var fs in m.Filesystems)
            {
                var labels = L(null, ("device", fs.Device), ("mountpoint", fs.Mountpoint), ("fstype", fs.FsType));
                Add("lxd_filesystem_avail_bytes", fs.AvailBytes, labels);
                Add("lxd_filesystem_free_bytes", fs.FreeBytes, labels);
                Add("lxd_filesystem_size_bytes", fs.SizeBytes, labels);
            }
            foreach (var (key, value) in m.Memory)
            {
                Add($"lxd_memory_{key}_bytes", value, L(type));
            }
            foreach (var n in m.Network)
            {
                var labels = L(type, ("device", n.Device));
                Add("lxd_network_receive_bytes_total", n.BytesReceived, labels);
                Add("lxd_network_receive_drop_total", n.DropsReceived, labels);
                Add("lxd_network_receive_errs_total", n.ErrorsReceived, labels);
                Add("lxd_network_receive_packets_total", n.PacketsReceived, labels);
                Add("lxd_network_transmit_bytes_total", n.BytesSent, labels);
                Add("lxd_network_transmit_drop_total", n.DropsSent, labels);
                Add("lxd_network_transmit_errs_total", n.ErrorsSent, labels);
                Add("lxd_network_transmit_packets_total", n.PacketsSent, labels);
            }
            if (m.Processes is { } procs)
            {
                Add("lxd_procs_total", procs, L(type));
            }
        }

        public override string ToString()
        {
            var sb = new StringBuilder();
            foreach (var (name, help) in Families)
            {
                if (!_set.TryGetValue(name, out var samples))
                {
                    continue;
                }
                sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
                sb.Append("# TYPE ").Append(name).Append(' ').Append(TypeOf(name)).Append('\n');
                foreach (var s in samples)
                {
                    sb.Append(name);
                    if (s.Labels.Count > 0)
                    {
                        sb.Append('{');
                        sb.AppendJoin(',', s.Labels.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}=\"{Escape(kv.Value)}\""));
                        sb.Append('}');
                    }
                    sb.Append(' ').Append(Format(s.Value)).Append('\n');
                }
            }
            return sb.Append("# EOF\n").ToString();
        }
    }

    /// <summary>lxd_procs_total is a gauge (it can go down); other "_total" names are counters, "_bytes" gauges.</summary>
    public static string TypeOf(string name) =>
        name == "lxd_procs_total" ? "gauge" : name.EndsWith("_total", StringComparison.Ordinal) ? "counter" : "gauge";

    /// <summary>
    /// Go's <c>strconv.FormatFloat(v, 'g', -1, 64)</c>, as LXD prints values: the shortest digits that round-trip,
    /// in exponent form when the decimal exponent is below -4 or at least 6 (1234567 → "1.234567e+06").
    /// </summary>
    public static string Format(double v)
    {
        if (double.IsNaN(v))
        {
            return "NaN";
        }
        if (double.IsInfinity(v))
        {
            return v > 0 ? "+Inf" : "-Inf";
        }
        if (v == 0)
        {
            return double.IsNegative(v) ? "-0" : "0";
        }
        // Shortest round-trip digits and the decimal point position (digits d1d2… = 0.d1d2… × 10^dp).
        var shortest = Math.Abs(v).ToString("R", CultureInfo.InvariantCulture);
        var mantissa = shortest;
        var exp10 = 0;
        if (shortest.IndexOf('E') is var e and >= 0)
        {
            mantissa = shortest[..e];
            exp10 = int.Parse(shortest[(e + 1)..], CultureInfo.InvariantCulture);
        }
        var point = mantissa.IndexOf('.');
        var digits = point < 0 ? mantissa : mantissa.Remove(point, 1);
        var dp = (point < 0 ? mantissa.Length : point) + exp10;
        var lead = digits.Length - digits.TrimStart('0').Length;
        digits = digits.Trim('0');
        dp -= lead;
        var sign = v < 0 ? "-" : "";
        var exp = dp - 1;
        if (exp < -4 || exp >= 6)
        {
            var m = digits.Length > 1 ? digits[0] + "." + digits[1..] : digits;
            return $"{sign}{m}e{(exp < 0 ? "-" : "+")}{Math.Abs(exp):00}";
        }
        if (dp <= 0)
        {
            return $"{sign}0.{new string('0', -dp)}{digits}";
        }
        return digits.Length <= dp ? sign + digits + new string('0', dp - digits.Length) : $"{sign}{digits[..dp]}.{digits[dp..]}";
    }

    /// <summary>Label values escape backslash, double quote and line feed (the text format's rule).</summary>
    public static string Escape(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
}
