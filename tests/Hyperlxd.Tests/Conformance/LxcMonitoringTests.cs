using System.Globalization;
using System.Net;
using System.Text.Json;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// Issue 14, the endpoints monitoring tools call, with the stock lxc 5.0.2, pylxd 2.2.10 and Prometheus'
/// own text-format parser (python3-prometheus-client): <c>/1.0/resources</c> against /proc and sysfs,
/// pool resources and <c>user.*</c> pool keys, <c>/1.0/metrics</c> of a running container, and the
/// "metrics" certificate type over HTTPS.
/// </summary>
[Collection(MonitoringDaemonCollection.Name)]
public sealed class LxcMonitoringTests(MonitoringDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private async Task<string> LxcOk(params string[] args)
    {
        var r = await D.LxcAsync(args);
        Assert.True(r.ExitCode == 0, $"lxc {string.Join(' ', args)}: {r}");
        return r.Stdout;
    }

    private static string Sys(string path) => File.ReadAllText(path).Trim();

    [Fact]
    public async Task Resources_match_proc_and_sysfs_and_lxc_info_resources_renders_them()
    {
        var res = (await D.Api.GetAsync("/1.0/resources")).Metadata;

        // CPU: every cpuN of sysfs, with its core and socket from topology.
        var cpus = Directory.GetDirectories("/sys/devices/system/cpu", "cpu*")
            .Select(Path.GetFileName).Where(n => n!.Length > 3 && n[3..].All(char.IsAsciiDigit)).Select(n => int.Parse(n![3..], CultureInfo.InvariantCulture)).Order().ToList();
        var cpu = res.GetProperty("cpu");
        Assert.Equal("x86_64", cpu.GetProperty("architecture").GetString());
        Assert.Equal(cpus.Count, cpu.GetProperty("total").GetInt32());
        var threads = new Dictionary<int, (int Socket, int Core)>();
        foreach (var socket in cpu.GetProperty("sockets").EnumerateArray())
        {
            foreach (var core in socket.GetProperty("cores").EnumerateArray())
            {
                foreach (var t in core.GetProperty("threads").EnumerateArray())
                {
                    threads[t.GetProperty("id").GetInt32()] = (socket.GetProperty("socket").GetInt32(), core.GetProperty("core").GetInt32());
                    Assert.True(t.GetProperty("online").GetBoolean());
                }
            }
        }
        Assert.Equal(cpus, threads.Keys.Order().ToList());
        foreach (var id in cpus)
        {
            var topo = $"/sys/devices/system/cpu/cpu{id}/topology/";
            Assert.Equal((int.Parse(Sys(topo + "physical_package_id"), CultureInfo.InvariantCulture), int.Parse(Sys(topo + "core_id"), CultureInfo.InvariantCulture)), threads[id]);
        }
        var modelName = File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("model name", StringComparison.Ordinal)).Split(':', 2)[1].Trim();
        Assert.Equal(modelName, cpu.GetProperty("sockets")[0].GetProperty("name").GetString());

        // Memory: MemTotal of /proc/meminfo.
        var memTotalKb = long.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        var memory = res.GetProperty("memory");
        Assert.Equal(memTotalKb * 1024, memory.GetProperty("total").GetInt64());
        Assert.InRange(memory.GetProperty("used").GetInt64(), 1, memTotalKb * 1024);

        // Disks: the block devices backed by a device (loop and zram are not), with their sysfs size.
        var disks = Directory.GetFileSystemEntries("/sys/class/block").Where(e => Directory.Exists(Path.Combine(e, "device")) && !File.Exists(Path.Combine(e, "partition")))
            .Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        var storage = res.GetProperty("storage").GetProperty("disks").EnumerateArray().ToList();
        Assert.Equal(disks, storage.Select(d => d.GetProperty("id").GetString()).ToList());
        foreach (var d in storage)
        {
            var id = d.GetProperty("id").GetString()!;
            Assert.Equal(long.Parse(Sys($"/sys/class/block/{id}/size"), CultureInfo.InvariantCulture) * 512, d.GetProperty("size").GetInt64());
            Assert.Equal(Sys($"/sys/class/block/{id}/dev"), d.GetProperty("device").GetString());
        }

        // NICs: interfaces backed by a device, as ports of their card.
        var nics = Directory.GetFileSystemEntries("/sys/class/net").Where(e => Directory.Exists(Path.Combine(e, "device"))).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        var ports = res.GetProperty("network").GetProperty("cards").EnumerateArray().SelectMany(c => c.GetProperty("ports").EnumerateArray())
            .ToDictionary(p => p.GetProperty("id").GetString()!, p => p.GetProperty("address").GetString());
        Assert.Equal(nics, ports.Keys.Order(StringComparer.Ordinal).Cast<string?>().ToList());
        foreach (var nic in nics)
        {
            Assert.Equal(Sys($"/sys/class/net/{nic}/address"), ports[nic!]);
        }

        // PCI: every device with its ids and driver.
        var pci = res.GetProperty("pci").GetProperty("devices").EnumerateArray().ToList();
        var addresses = Directory.GetFileSystemEntries("/sys/bus/pci/devices").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(addresses, pci.Select(p => p.GetProperty("pci_address").GetString()).ToList());
        Assert.Equal(addresses.Count, res.GetProperty("pci").GetProperty("total").GetInt32());
        foreach (var p in pci)
        {
            var dir = "/sys/bus/pci/devices/" + p.GetProperty("pci_address").GetString();
            Assert.Equal(Sys(dir + "/vendor")[2..], p.GetProperty("vendor_id").GetString());
            Assert.Equal(Sys(dir + "/device")[2..], p.GetProperty("product_id").GetString());
            var driver = new FileInfo(dir + "/driver").LinkTarget;
            Assert.Equal(driver is null ? "" : Path.GetFileName(driver), p.GetProperty("driver").GetString());
        }

        // The stock client renders it (it needs resources_v2).
        var info = await LxcOk("info", "--resources");
        Assert.Contains($"Total: {Iec(memTotalKb * 1024)}", info);
        Assert.Contains(modelName, info);
        Assert.Contains(cpus.Count == 1 ? "CPU (x86_64):" : "CPU", info);
        foreach (var disk in disks)
        {
            Assert.Contains($"ID: {disk}", info);
        }
    }

    /// <summary>lxc's units.GetByteSizeStringIEC(n, 2): "23.54GiB".</summary>
    private static string Iec(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        var v = (double)bytes;
        var i = 0;
        while (v >= 1024 && i < units.Length - 1)
        {
            v /= 1024;
            i++;
        }
        return i == 0 ? $"{bytes}B" : v.ToString("0.00", CultureInfo.InvariantCulture) + units[i];
    }

    [Fact]
    public async Task Pool_resources_from_lxc_and_pylxd_match_statvfs_and_user_keys_persist()
    {
        var info = await LxcOk("storage", "info", "default");
        Assert.Contains("space used:", info);
        Assert.Contains("total space:", info);

        var poolDir = Path.Combine(D.Dir, "storage-pools", "default");
        var r = await D.PythonAsync($$"""
            import os, warnings, pylxd
            warnings.simplefilter('ignore')
            c = pylxd.Client()
            res = c.storage_pools.get('default').resources.get()
            st = os.statvfs('{{poolDir}}')
            print(res.space['total'] == st.f_frsize * st.f_blocks, res.inodes['total'] == st.f_files, res.space['used'] > 0)
            """);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("True True True", r.Stdout.Trim());

        // user.* keys: set, read back, stored, unset; other unknown keys still refused with the key named.
        try
        {
            await LxcOk("storage", "set", "default", "user.owner", "team-a");
            Assert.Equal("team-a", (await LxcOk("storage", "get", "default", "user.owner")).Trim());
            Assert.Contains("\"user.owner\": \"team-a\"", await D.QueryScalarAsync("SELECT config::text FROM storage_pools WHERE name = 'default'"));
            Assert.Contains("user.owner: team-a", await LxcOk("storage", "show", "default"));
            var bad = await D.LxcAsync("storage", "set", "default", "bogus.key", "x");
            Assert.NotEqual(0, bad.ExitCode);
            Assert.Contains("bogus.key", bad.Stderr);
            await LxcOk("storage", "unset", "default", "user.owner");
            Assert.DoesNotContain("user.owner", await LxcOk("storage", "show", "default"));
            Assert.DoesNotContain("user.owner", await D.QueryScalarAsync("SELECT config::text FROM storage_pools WHERE name = 'default'"));

            await LxcOk("storage", "create", "mon-user", "dir", "user.tier=gold");
            Assert.Equal("gold", (await LxcOk("storage", "get", "mon-user", "user.tier")).Trim());
        }
        finally
        {
            await D.LxcAsync("storage", "unset", "default", "user.owner");
            await D.LxcAsync("storage", "delete", "mon-user");
        }
    }

    private Task<Dictionary<string, PrometheusScrape.Family>> ScrapeAsync(string path = "/1.0/metrics") => PrometheusScrape.ScrapeAsync(D, path);

    private static List<PrometheusScrape.Sample> Of(Dictionary<string, PrometheusScrape.Family> m, string family, string instance) =>
        PrometheusScrape.Of(m, family, instance);

    [Fact]
    public async Task Metrics_of_a_running_container_parse_with_prometheus_client_and_follow_it()
    {
        await LxcOk("launch", "busybox", "mon-c1");
        await LxcOk("init", "busybox", "mon-stopped");
        try
        {
            await LxcOk("config", "set", "mon-c1", "limits.memory=64MiB");
            // Some CPU work: the kernel splits time into user/system by ticks, so an idle init may show none.
            await LxcOk("exec", "mon-c1", "--", "sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done");
            var m = await ScrapeAsync();

            Assert.Equal("counter", m["lxd_cpu_seconds"].Type);
            var cpu = Of(m, "lxd_cpu_seconds", "mon-c1");
            Assert.NotEmpty(cpu);
            Assert.All(cpu, s =>
            {
                Assert.Equal("lxd_cpu_seconds_total", s.Name);
                Assert.Equal(("default", "container"), (s.Labels["project"], s.Labels["type"]));
                Assert.Contains(s.Labels["mode"], new[] { "user", "system" });
                Assert.True(int.Parse(s.Labels["cpu"], CultureInfo.InvariantCulture) < Environment.ProcessorCount, s.Labels["cpu"]);
            });
            Assert.True(cpu.Sum(s => s.Value) > 0, "init has used some CPU time");

            Assert.Equal("gauge", m["lxd_memory_MemTotal_bytes"].Type);
            Assert.Equal(64.0 * 1024 * 1024, Of(m, "lxd_memory_MemTotal_bytes", "mon-c1").Single().Value);
            Assert.InRange(Of(m, "lxd_memory_MemFree_bytes", "mon-c1").Single().Value, 1, 64.0 * 1024 * 1024 - 1);
            Assert.Single(Of(m, "lxd_memory_RSS_bytes", "mon-c1"));

            Assert.Single(Of(m, "lxd_network_receive_bytes", "mon-c1"), s => s.Labels["device"] == "lo");
            Assert.Equal("counter", m["lxd_network_receive_bytes"].Type);
            Assert.Single(Of(m, "lxd_network_transmit_packets", "mon-c1"), s => s.Labels["device"] == "lo");

            // The root filesystem: statvfs of the container's volume as the pool's filesystem reports it.
            var fs = Of(m, "lxd_filesystem_size_bytes", "mon-c1").Single();
            Assert.Equal("/", fs.Labels["mountpoint"]);
            var rootfs = Path.Combine(D.Dir, "storage-pools", "default", "containers", "mon-c1");
            var st = await D.PythonAsync($"import os; s = os.statvfs('{rootfs}'); print(s.f_bsize * s.f_blocks)");
            Assert.Equal(double.Parse(st.Stdout.Trim(), CultureInfo.InvariantCulture), fs.Value);

            // The process count follows what runs inside.
            Assert.Equal("gauge", m["lxd_procs_total"].Type);
            var before = Of(m, "lxd_procs_total", "mon-c1").Single().Value;
            await LxcOk("exec", "mon-c1", "--", "sh", "-c", "sleep 600 </dev/null >/dev/null 2>&1 &");
            var after = Of(await ScrapeAsync(), "lxd_procs_total", "mon-c1").Single().Value;
            Assert.Equal(before + 1, after);

            // A stopped instance has no metrics; the scrape still works.
            Assert.Empty(Of(m, "lxd_procs_total", "mon-stopped"));

            // Another project's instance: its own name and project label; ?project= scrapes that project alone.
            await LxcOk("project", "create", "monp", "-c", "features.images=false");
            await LxcOk("--project", "monp", "profile", "device", "add", "default", "root", "disk", "path=/", "pool=default");
            await LxcOk("--project", "monp", "launch", "busybox", "mon-p1");
            Assert.Equal("monp", Of(await ScrapeAsync(), "lxd_procs_total", "mon-p1").Single().Labels["project"]);
            var monp = await ScrapeAsync("/1.0/metrics?project=monp");
            Assert.Single(Of(monp, "lxd_procs_total", "mon-p1"));
            Assert.Empty(Of(monp, "lxd_procs_total", "mon-c1"));
            Assert.DoesNotContain(monp["lxd_procs_total"].Samples, x => x.Labels["name"].Contains('_'));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "mon-c1");
            await D.LxcAsync("delete", "--force", "mon-stopped");
            await D.LxcAsync("--project", "monp", "delete", "--force", "mon-p1");
            await D.LxcAsync("project", "delete", "monp");
        }
    }

    [Fact]
    public async Task Disk_metrics_of_a_container_count_its_direct_io_per_host_disk()
    {
        await LxcOk("launch", "busybox", "mon-io");
        try
        {
            var before = await ScrapeAsync();
            // O_DIRECT: the requests leave from the container's own tasks, so its blkio/io group counts them (buffered
            // writeback would be charged to the flusher). 1 MiB written, then read back.
            await LxcOk("exec", "mon-io", "--", "dd", "if=/dev/zero", "of=/root/io-test", "bs=65536", "count=16", "oflag=direct");
            await LxcOk("exec", "mon-io", "--", "dd", "if=/root/io-test", "of=/dev/null", "bs=65536", "iflag=direct");
            var m = await ScrapeAsync();

            var partitions = File.ReadLines("/proc/partitions").Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(f => f.Length == 4).Select(f => f[3]).ToHashSet();
            foreach (var family in new[] { "lxd_disk_read_bytes", "lxd_disk_reads_completed", "lxd_disk_written_bytes", "lxd_disk_writes_completed" })
            {
                Assert.Equal("counter", m[family].Type);
                var samples = Of(m, family, "mon-io");
                Assert.NotEmpty(samples);
                Assert.All(samples, s =>
                {
                    Assert.Equal(family + "_total", s.Name);
                    Assert.Equal(("default", "container"), (s.Labels["project"], s.Labels["type"]));
                    Assert.Contains(s.Labels["device"], partitions);
                });
            }
            double Sum(Dictionary<string, PrometheusScrape.Family> scrape, string family) =>
                Of(scrape, family, "mon-io").Sum(s => s.Value);
            Assert.True(Sum(m, "lxd_disk_written_bytes") - Sum(before, "lxd_disk_written_bytes") >= 1 << 20, $"written: {Sum(m, "lxd_disk_written_bytes")}");
            Assert.True(Sum(m, "lxd_disk_writes_completed") - Sum(before, "lxd_disk_writes_completed") >= 16, $"writes: {Sum(m, "lxd_disk_writes_completed")}");
            Assert.True(Sum(m, "lxd_disk_read_bytes") - Sum(before, "lxd_disk_read_bytes") >= 1 << 20, $"read: {Sum(m, "lxd_disk_read_bytes")}");
            Assert.True(Sum(m, "lxd_disk_reads_completed") - Sum(before, "lxd_disk_reads_completed") >= 16, $"reads: {Sum(m, "lxd_disk_reads_completed")}");
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "mon-io");
        }
    }

    /// <summary>A container on a btrfs pool (a loop device the pool attached): its reads are counted on that loop device, by its name.</summary>
    [Fact]
    public async Task Disk_metrics_name_the_loop_device_of_a_btrfs_pool()
    {
        try
        {
            await LxcOk("storage", "create", "mon-btrfs", "btrfs", "size=1GiB");
            await LxcOk("launch", "busybox", "mon-io2", "-s", "mon-btrfs");
            var source = (await LxcOk("storage", "get", "mon-btrfs", "source")).Trim();
            var loop = File.ReadLines("/proc/mounts").Select(l => l.Split(' ')).Where(f => f[0].StartsWith("/dev/loop", StringComparison.Ordinal))
                .Select(f => Path.GetFileName(f[0])).Distinct()
                .Single(dev => File.ReadAllText($"/sys/block/{dev}/loop/backing_file").Trim() == source);
            var before = Of(await ScrapeAsync(), "lxd_disk_read_bytes", "mon-io2").Where(s => s.Labels["device"] == loop).Sum(s => s.Value);
            await LxcOk("exec", "mon-io2", "--", "dd", "if=/dev/zero", "of=/root/io-test", "bs=65536", "count=16");
            await LxcOk("exec", "mon-io2", "--", "sync");
            await LxcOk("exec", "mon-io2", "--", "dd", "if=/root/io-test", "of=/dev/null", "bs=65536", "iflag=direct");
            var after = Of(await ScrapeAsync(), "lxd_disk_read_bytes", "mon-io2").Where(s => s.Labels["device"] == loop).Sum(s => s.Value);
            // Most of the 1 MiB comes from the device (btrfs may still answer a block from memory).
            Assert.True(after - before >= 1 << 19, $"{loop} ({source}): read {before} -> {after}");
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "mon-io2");
            await D.LxcAsync("storage", "delete", "mon-btrfs");
        }
    }

    [Fact]
    public async Task Exec_record_output_is_readable_from_the_logs_afterwards_and_deletable()
    {
        await LxcOk("launch", "busybox", "mon-rec");
        try
        {
            // lxc exec never records: the API as pylxd/ansible-style tools call it, sent with the stock client.
            var body = """{"command":["sh","-c","echo to-stdout; echo to-stderr >&2; exit 3"],"record-output":true,"wait-for-websocket":false,"interactive":false}""";
            var op = JsonDocument.Parse(await LxcOk("query", "-X", "POST", "-d", body, "/1.0/instances/mon-rec/exec")).RootElement;
            Assert.Equal("task", op.GetProperty("class").GetString()); // no websockets: a task, as LXD 5.0.2
            var done = JsonDocument.Parse(await LxcOk("query", $"/1.0/operations/{op.GetProperty("id").GetString()}/wait?timeout=60")).RootElement;
            Assert.Equal("Success", done.GetProperty("status").GetString());
            var metadata = done.GetProperty("metadata");
            Assert.Equal(3, metadata.GetProperty("return").GetInt32());
            var stdoutUrl = metadata.GetProperty("output").GetProperty("1").GetString()!;
            var stderrUrl = metadata.GetProperty("output").GetProperty("2").GetString()!;
            Assert.Equal($"/1.0/instances/mon-rec/logs/exec_{op.GetProperty("id").GetString()}.stdout", stdoutUrl);

            using (var stdout = await D.Api.RawAsync(stdoutUrl))
            {
                Assert.Equal(HttpStatusCode.OK, stdout.StatusCode);
                Assert.Equal("to-stdout\n", await stdout.Content.ReadAsStringAsync());
            }
            using (var stderr = await D.Api.RawAsync(stderrUrl))
            {
                Assert.Equal("to-stderr\n", await stderr.Content.ReadAsStringAsync());
            }
            var logs = JsonDocument.Parse(await LxcOk("query", "/1.0/instances/mon-rec/logs")).RootElement.EnumerateArray().Select(e => e.GetString()).ToList();
            Assert.Contains(stdoutUrl, logs);
            Assert.Contains(stderrUrl, logs);

            await LxcOk("query", "-X", "DELETE", stdoutUrl);
            using (var gone = await D.Api.RawAsync(stdoutUrl))
            {
                Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
            }
            Assert.DoesNotContain(stdoutUrl, JsonDocument.Parse(await LxcOk("query", "/1.0/instances/mon-rec/logs")).RootElement.EnumerateArray().Select(e => e.GetString()));

            // With websockets the client gets the output itself: nothing is recorded (LXD ignores the flag there).
            Assert.Equal("live", (await LxcOk("exec", "mon-rec", "--", "echo", "live")).Trim());
            Assert.Single(JsonDocument.Parse(await LxcOk("query", "/1.0/instances/mon-rec/logs")).RootElement.EnumerateArray(),
                e => e.GetString()!.Contains("exec_", StringComparison.Ordinal));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "mon-rec");
        }
    }

    [Fact]
    public async Task Warnings_list_show_acknowledge_survive_a_restart_and_delete_with_lxc()
    {
        // The host condition this daemon warns about here: no AppArmor in the kernel (the project's machines have none).
        var appArmor = File.Exists("/sys/module/apparmor/parameters/enabled") && Sys("/sys/module/apparmor/parameters/enabled") == "Y"
            && Directory.Exists("/sys/kernel/security/apparmor");
        var list = JsonDocument.Parse(await LxcOk("query", "/1.0/warnings?recursion=1")).RootElement.EnumerateArray().ToList();
        var warning = list.SingleOrDefault(w => w.GetProperty("type").GetString() == "AppArmor support has been disabled");
        if (appArmor)
        {
            Assert.Equal(JsonValueKind.Undefined, warning.ValueKind);
            return;
        }
        Assert.Equal(JsonValueKind.Object, warning.ValueKind);
        var uuid = warning.GetProperty("uuid").GetString()!;
        Assert.Equal(("new", "low", 1), (warning.GetProperty("status").GetString(), warning.GetProperty("severity").GetString(), warning.GetProperty("count").GetInt32()));

        var csv = await LxcOk("warning", "list", "--format", "csv");
        Assert.Contains(uuid, csv);
        Assert.Contains("AppArmor support has been disabled", csv);
        Assert.Contains("last_message: AppArmor support has been disabled", await LxcOk("warning", "show", uuid));
        Assert.Contains($"/1.0/warnings/{uuid}", await LxcOk("query", "/1.0/warnings"));

        await LxcOk("warning", "acknowledge", uuid);
        Assert.Equal("acknowledged", JsonDocument.Parse(await LxcOk("query", "/1.0/warnings/" + uuid)).RootElement.GetProperty("status").GetString());

        // Only "acknowledged" and "new" may be set (403 for "resolved", as LXD); anything else is a 400 naming it.
        Assert.Equal(HttpStatusCode.Forbidden, (await D.Api.PutAsync("/1.0/warnings/" + uuid, """{"status":"resolved"}""")).Status);
        var bad = await D.Api.PatchAsync("/1.0/warnings/" + uuid, """{"status":"bogus"}""");
        Assert.Equal(HttpStatusCode.BadRequest, bad.Status);
        Assert.Contains("bogus", bad.Error);
        Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/warnings/00000000-0000-0000-0000-000000000000")).Status);

        // Raised again at the next start: the same warning, counted twice, still acknowledged.
        await D.StopAsync();
        await D.StartAsync();
        var again = JsonDocument.Parse(await LxcOk("query", "/1.0/warnings/" + uuid)).RootElement;
        Assert.Equal(("acknowledged", 2), (again.GetProperty("status").GetString(), again.GetProperty("count").GetInt32()));
        Assert.True(again.GetProperty("last_seen_at").GetDateTimeOffset() > again.GetProperty("first_seen_at").GetDateTimeOffset());

        await LxcOk("warning", "delete", uuid);
        Assert.DoesNotContain(uuid, await LxcOk("warning", "list", "--format", "csv"));
        Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/warnings/" + uuid)).Status);
    }

    [Fact]
    public async Task A_metrics_certificate_reads_metrics_only_and_metrics_authentication_can_open_it()
    {
        using var metricsCert = TestCertificates.CreateClient("prometheus");
        using var stranger = TestCertificates.CreateClient("stranger");
        var add = await D.Api.PostAsync("/1.0/certificates", JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["name"] = "prometheus",
            ["type"] = "metrics",
            ["certificate"] = Convert.ToBase64String(metricsCert.RawData),
        }));
        Assert.True(add.Status == HttpStatusCode.OK, add.ToString());
        Assert.Contains("metrics", await LxcOk("config", "trust", "list", "--format", "csv"));

        using var scraper = ApiClient.Https(fixture.HttpsPort, metricsCert, D.NetnsName);
        using var metrics = await scraper.RawAsync("/1.0/metrics");
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.EndsWith("# EOF\n", await metrics.Content.ReadAsStringAsync());

        // Nothing else: the API treats it as untrusted.
        Assert.Equal(HttpStatusCode.Forbidden, (await scraper.GetAsync("/1.0/instances")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await scraper.GetAsync("/1.0/resources")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await scraper.GetAsync("/1.0/certificates")).Status);
        Assert.Equal("untrusted", (await scraper.GetAsync("/1.0")).Metadata.GetProperty("auth").GetString());

        using var unknown = ApiClient.Https(fixture.HttpsPort, stranger, D.NetnsName);
        using (var refused = await unknown.RawAsync("/1.0/metrics"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }
        try
        {
            await LxcOk("config", "set", "core.metrics_authentication", "false");
            using var open = await unknown.RawAsync("/1.0/metrics");
            Assert.Equal(HttpStatusCode.OK, open.StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await unknown.GetAsync("/1.0/instances")).Status);
            var badValue = await D.LxcAsync("config", "set", "core.metrics_authentication", "maybe");
            Assert.NotEqual(0, badValue.ExitCode);
            Assert.Contains("core.metrics_authentication", badValue.Stderr);
        }
        finally
        {
            await D.LxcAsync("config", "unset", "core.metrics_authentication");
        }
        using (var closed = await unknown.RawAsync("/1.0/metrics"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, closed.StatusCode);
        }
        await D.Api.DeleteAsync("/1.0/certificates/" + TestCertificates.Fingerprint(metricsCert));
        using var removed = await scraper.RawAsync("/1.0/metrics");
        Assert.Equal(HttpStatusCode.Forbidden, removed.StatusCode);
    }
}

/// <summary>A daemon made by <c>hyperlxd init --auto</c> with the busybox image, listening on HTTPS too.</summary>
public sealed class MonitoringDaemon : IAsyncLifetime
{
    public DaemonProcess Daemon { get; private set; } = null!;
    public int HttpsPort { get; } = Repo.FreeTcpPort();

    public async Task InitializeAsync()
    {
        await ImageFixture.EnsureImagesAsync();
        Daemon = await DaemonProcess.StartAsync();
        await Daemon.PrepareContainersAsync(ImageFixture.Busybox);
        var r = await Daemon.Api.PatchAsync("/1.0", $$$"""{"config":{"core.https_address":"127.0.0.1:{{{HttpsPort}}}"}}""");
        if (r.Status != HttpStatusCode.OK)
        {
            throw new InvalidOperationException("cannot configure HTTPS: " + r);
        }
    }

    public async Task DisposeAsync()
    {
        try
        {
            await Daemon.DeleteAllInstancesAsync();
        }
        finally
        {
            await Daemon.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class MonitoringDaemonCollection : ICollectionFixture<MonitoringDaemon>
{
    public const string Name = "monitoring daemon";
}
