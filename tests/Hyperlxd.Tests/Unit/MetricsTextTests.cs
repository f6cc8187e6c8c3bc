using Hyperlxd.Core.Instances;
using Hyperlxd.Daemon.Resources;

namespace Hyperlxd.Tests.Unit;

/// <summary>The Prometheus exposition of /1.0/metrics (LXD 5.0.2's lxd/metrics/metrics.go) and the resource parsers.</summary>
public sealed class MetricsTextTests
{
    [Theory]
    [InlineData(0, "0")]
    [InlineData(3, "3")]
    [InlineData(0.25, "0.25")]
    [InlineData(123456, "123456")]
    [InlineData(1234567, "1.234567e+06")]
    [InlineData(67108864, "6.7108864e+07")]
    [InlineData(1e6, "1e+06")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(0.00001, "1e-05")]
    [InlineData(-2.5, "-2.5")]
    [InlineData(1e21, "1e+21")]
    public void Values_print_as_Go_FormatFloat_g_shortest(double value, string expected) =>
        Assert.Equal(expected, MetricsText.Format(value));

    [Fact]
    public void One_family_per_name_across_instances_in_LXD_order_with_help_type_sorted_labels_and_EOF()
    {
        var b = new MetricsText.Builder();
        var m1 = new InstanceMetrics(
            [new CpuTime("0", "system", 1.5), new CpuTime("0", "user", 2)],
            new Dictionary<string, long> { ["MemTotal"] = 1024 },
            [new NetworkCounters("eth0", 10, 1, 0, 0, 20, 2, 0, 0)],
            3)
        { Filesystems = [new FilesystemUsage("", "/", "btrfs", 100, 50, 40)] };
        b.AddInstance("c1", "default", "container", m1);
        b.AddInstance("c2", "default", "container", m1 with { Network = [], Filesystems = [] });
        var text = b.ToString();
        var lines = text.Split('\n');

        Assert.Equal("# HELP lxd_cpu_seconds_total The total number of CPU time used in seconds.", lines[0]);
        Assert.Equal("# TYPE lxd_cpu_seconds_total counter", lines[1]);
        Assert.Equal("lxd_cpu_seconds_total{cpu=\"0\",mode=\"system\",name=\"c1\",project=\"default\",type=\"container\"} 1.5", lines[2]);
        Assert.Single(lines, l => l == "# TYPE lxd_procs_total gauge");
        Assert.Single(lines, l => l == "# TYPE lxd_memory_MemTotal_bytes gauge");
        Assert.Single(lines, l => l == "# TYPE lxd_network_receive_bytes_total counter");
        Assert.Contains("lxd_filesystem_size_bytes{device=\"\",fstype=\"btrfs\",mountpoint=\"/\",name=\"c1\",project=\"default\"} 100", lines);
        Assert.Equal(2, lines.Count(l => l.StartsWith("lxd_procs_total{", StringComparison.Ordinal)));
        // Families in LXD's order: cpu, filesystem, memory, network, procs.
        var order = lines.Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal)).Select(l => l.Split(' ')[2]).ToList();
        Assert.Equal(["lxd_cpu_seconds_total", "lxd_filesystem_avail_bytes", "lxd_filesystem_free_bytes", "lxd_filesystem_size_bytes",
            "lxd_memory_MemTotal_bytes", "lxd_network_receive_bytes_total", "lxd_network_receive_drop_total", "lxd_network_receive_errs_total",
            "lxd_network_receive_packets_total", "lxd_network_transmit_bytes_total", "lxd_network_transmit_drop_total",
            "lxd_network_transmit_errs_total", "lxd_network_transmit_packets_total", "lxd_procs_total"], order);
        Assert.EndsWith("# EOF\n", text);
    }

    [Fact]
    public void Label_values_are_escaped_and_unknown_metrics_refused()
    {
        var b = new MetricsText.Builder();
        b.Add("lxd_procs_total", 1, new Dictionary<string, string> { ["name"] = "a\"b\\c\nd" });
        Assert.Contains("lxd_procs_total{name=\"a\\\"b\\\\c\\nd\"} 1\n", b.ToString());
        Assert.Throws<ArgumentException>(() => b.Add("lxd_bogus", 1, new Dictionary<string, string>()));
    }

    [Fact]
    public void An_empty_scrape_is_just_EOF() => Assert.Equal("# EOF\n", new MetricsText.Builder().ToString());

    [Theory]
    [InlineData("0-3", new[] { 0, 1, 2, 3 })]
    [InlineData("0,2,4-5", new[] { 0, 2, 4, 5 })]
    [InlineData("", new int[0])]
    [InlineData("7", new[] { 7 })]
    public void Kernel_cpu_lists_parse(string list, int[] expected) => Assert.Equal(expected, HostResources.ParseList(list));

    [Fact]
    public void Meminfo_parses_kB_to_bytes_and_node_prefixed_lines()
    {
        var m = HostResources.MemInfo("MemTotal:       24683792 kB\nHugePages_Total:       2\nNode 0 MemUsed:  100 kB\n");
        Assert.Equal(24683792L * 1024, (long)m["MemTotal"]);
        Assert.Equal(2UL, m["HugePages_Total"]);
        Assert.Equal(102400UL, m["MemUsed"]);
    }

    [Fact]
    public void RealPath_follows_relative_sysfs_links()
    {
        var real = HostResources.RealPath("/sys/class/net/lo");
        Assert.Equal("/sys/devices/virtual/net/lo", real);
    }

    [Fact]
    public void Disk_counters_print_per_device_with_the_instance_labels_in_LXD_order()
    {
        var b = new MetricsText.Builder();
        b.AddInstance("v1", "p1", "virtual-machine", new InstanceMetrics([], new Dictionary<string, long>(), [], 0)
        {
            Disks = [new DiskCounters("dev-lxd_root", 4096, 2, 8192, 3)],
        });
        var lines = b.ToString().Split('\n');
        var labels = "{device=\"dev-lxd_root\",name=\"v1\",project=\"p1\",type=\"virtual-machine\"}";
        Assert.Contains("lxd_disk_read_bytes_total" + labels + " 4096", lines);
        Assert.Contains("lxd_disk_reads_completed_total" + labels + " 2", lines);
        Assert.Contains("lxd_disk_written_bytes_total" + labels + " 8192", lines);
        Assert.Contains("lxd_disk_writes_completed_total" + labels + " 3", lines);
        Assert.Equal(["lxd_disk_read_bytes_total", "lxd_disk_reads_completed_total", "lxd_disk_written_bytes_total", "lxd_disk_writes_completed_total", "lxd_procs_total"],
            lines.Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal)).Select(l => l.Split(' ')[2]).ToList());
        Assert.All(lines.Where(l => l.StartsWith("# TYPE lxd_disk", StringComparison.Ordinal)), l => Assert.EndsWith(" counter", l));
    }

    [Fact]
    public void Cgroup_v1_blkio_and_v2_io_stat_give_counters_per_named_disk()
    {
        var dir = Directory.CreateTempSubdirectory("hyperlxd-blkio-").FullName;
        try
        {
            var partitions = Path.Combine(dir, "partitions");
            File.WriteAllText(partitions, "major minor  #blocks  name\n\n 254        0  268435456 vda\n   7        1     102400 loop1\n");
            var v1 = Directory.CreateDirectory(Path.Combine(dir, "v1")).FullName;
            // Total lines, Sync/Async and devices /proc/partitions does not know are ignored.
            File.WriteAllText(Path.Combine(v1, "blkio.throttle.io_service_bytes_recursive"),
                "254:0 Read 4096\n254:0 Write 1048576\n254:0 Sync 1052672\n254:0 Total 1052672\n7:1 Read 512\n9:9 Read 1\nTotal 1053184\n");
            File.WriteAllText(Path.Combine(v1, "blkio.throttle.io_serviced_recursive"), "254:0 Read 1\n254:0 Write 256\n7:1 Read 1\n7:1 Write 0\nTotal 258\n");
            Assert.Equal([new DiskCounters("loop1", 512, 1, 0, 0), new DiskCounters("vda", 4096, 1, 1048576, 256)],
                Hyperlxd.Containers.CgroupMetrics.Disks(v1, partitions));

            var v2 = Directory.CreateDirectory(Path.Combine(dir, "v2")).FullName;
            File.WriteAllText(Path.Combine(v2, "io.stat"), "254:0 rbytes=4096 wbytes=1048576 rios=1 wios=256 dbytes=0 dios=0\n9:9 rbytes=1 wbytes=1 rios=1 wios=1\n");
            Assert.Equal([new DiskCounters("vda", 4096, 1, 1048576, 256)], Hyperlxd.Containers.CgroupMetrics.Disks(v2, partitions));

            Assert.Empty(Hyperlxd.Containers.CgroupMetrics.Disks(Path.Combine(dir, "missing"), partitions));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_vcpu_thread_stat_line_gives_utime_stime_and_guest_time_even_with_spaces_in_its_name()
    {
        // proc(5): pid (comm) state ppid ... utime(14) stime(15) ... guest_time(43).
        var fields = Enumerable.Range(3, 50).Select(i => i switch { 3 => "S", 14 => "700", 15 => "30", 43 => "200", _ => "0" });
        var stat = "4242 (CPU 0/TCG) " + string.Join(' ', fields) + "\n";
        Assert.Equal((700L, 30L, 200L), Hyperlxd.Vms.VmDriver.ParseTaskStat(stat));
        Assert.Null(Hyperlxd.Vms.VmDriver.ParseTaskStat("garbage"));
    }
}
