using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// A VM daemon with one VM launched from the VM test image and booted to its agent ("vm1"), shared
/// by the facts of <see cref="VmLxcTests"/> (a TCG boot costs ~7 s): each fact leaves it Running with
/// its agent answering.
/// </summary>
public sealed class SharedVmFixture : IAsyncLifetime
{
    public const string Vm = "vm1";

    private readonly VmDaemon _daemon = new();

    public DaemonProcess Daemon => _daemon.Daemon;

    public async Task InitializeAsync()
    {
        await _daemon.InitializeAsync();
        await VmDaemon.LaunchVmAsync(Daemon, Vm);
    }

    public Task DisposeAsync() => _daemon.DisposeAsync();
}

/// <summary>Issue 12: the stock lxc 5.0.2 client driving virtual machines (the VM test image, TCG here).</summary>
public sealed class VmLxcTests(SharedVmFixture fixture) : IClassFixture<SharedVmFixture>
{
    private const string Vm = SharedVmFixture.Vm;

    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => VmDaemon.LxcOkAsync(D, args);

    /// <summary>`lxc list NAME -c nts --format csv`: name, type, state.</summary>
    private async Task<(string Type, string State)> ListAsync(string name)
    {
        var csv = (await LxcOkAsync("list", name, "-c", "nts", "--format", "csv")).Trim();
        var cols = csv.Split(',');
        Assert.True(cols.Length == 3 && cols[0] == name, csv);
        return (cols[1], cols[2]);
    }

    [Fact]
    public async Task Launch_vm_lists_as_a_running_virtual_machine_backed_by_qemu()
    {
        Assert.Equal(("VIRTUAL-MACHINE", "RUNNING"), await ListAsync(Vm));
        var table = await LxcOkAsync("list");
        Assert.Matches($@"\|\s*{Vm}\s*\|\s*RUNNING\s*\|.*\|\s*VIRTUAL-MACHINE\s*\|", table);

        var json = await VmDaemon.ListJsonAsync(D, Vm);
        Assert.Equal("virtual-machine", json.GetProperty("type").GetString());
        Assert.Equal("Running", json.GetProperty("status").GetString());
        Assert.Equal(103, json.GetProperty("status_code").GetInt32());
        var pid = json.GetProperty("state").GetProperty("pid").GetInt32();
        Assert.True(pid > 1, json.ToString());
        // The listed pid is the VM's QEMU on this host.
        Assert.StartsWith("qemu-system", VmDaemon.Comm(pid));

        Assert.Matches(@"(?m)^Type: virtual-machine$", await LxcOkAsync("info", Vm));
    }

    [Fact]
    public async Task Exec_returns_stdout_stderr_and_the_exit_code()
    {
        var cpuinfo = await D.LxcAsync("exec", Vm, "--", "cat", "/proc/cpuinfo");
        Assert.True(cpuinfo.ExitCode == 0, cpuinfo.ToString());
        Assert.Matches(@"(?m)^processor\s*:\s*0$", cpuinfo.Stdout);

        var failing = await D.LxcAsync("exec", Vm, "--", "sh", "-c", "echo out-$((40+2)); echo err-side >&2; exit 7");
        Assert.Equal(7, failing.ExitCode);
        Assert.Equal("out-42", failing.Stdout.Trim());
        Assert.Contains("err-side", failing.Stderr);

        Assert.NotEqual(0, (await D.LxcAsync("exec", Vm, "--", "cat", "/no/such/file")).ExitCode);
        // The guest's own kernel: this ran inside the VM, not on the host.
        Assert.NotEqual(File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim(),
            (await LxcOkAsync("exec", Vm, "--", "cat", "/proc/sys/kernel/random/boot_id")).Trim());
        Assert.Equal("a=1 b=two", (await LxcOkAsync("exec", Vm, "--env", "A=1", "--env", "B=two", "--", "sh", "-c", "echo a=$A b=$B")).Trim());
    }

    [Fact]
    public async Task Interactive_exec_is_refused_with_a_clear_error_and_the_vm_keeps_running()
    {
        // -t forces a pseudo-terminal, which the VM driver declares it cannot give (virtio-serial agent, no pty).
        var r = await D.LxcAsync("exec", "-t", Vm, "--", "sh");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Matches(@"(?i)^Error: .*(interactive|pty|terminal)", r.Stderr.Trim());
        Assert.Equal("RUNNING", (await ListAsync(Vm)).State);
        Assert.Equal("still-here", (await LxcOkAsync("exec", Vm, "--", "echo", "still-here")).Trim());
    }

    [Fact]
    public async Task File_push_and_pull_round_trip()
    {
        var dir = Repo.TempDir("hlx-vmfiles-");
        try
        {
            // ~190 KB: more than one agent request carries (file writes go in chunks).
            var payload = string.Join("\n", Enumerable.Range(0, 20000).Select(i => $"line {i}")) + "\n";
            var src = Path.Combine(dir, "in.txt");
            await File.WriteAllTextAsync(src, payload);
            await LxcOkAsync("file", "push", src, $"{Vm}/root/pushed.txt");
            Assert.Equal("20000", (await LxcOkAsync("exec", Vm, "--", "sh", "-c", "wc -l < /root/pushed.txt")).Trim());
            await LxcOkAsync("file", "pull", $"{Vm}/root/pushed.txt", Path.Combine(dir, "back.txt"));
            Assert.Equal(payload, await File.ReadAllTextAsync(Path.Combine(dir, "back.txt")));

            await LxcOkAsync("exec", Vm, "--", "sh", "-c", "echo made-inside > /tmp/out.txt");
            await LxcOkAsync("file", "pull", $"{Vm}/tmp/out.txt", Path.Combine(dir, "out.txt"));
            Assert.Equal("made-inside\n", await File.ReadAllTextAsync(Path.Combine(dir, "out.txt")));

            // Onto the VM's disk, with an owner and a mode.
            await LxcOkAsync("file", "push", "--uid", "1000", "--gid", "1000", "--mode", "0640", src, $"{Vm}/mnt/disk/pushed.txt");
            Assert.Equal("1000:1000 640", (await LxcOkAsync("exec", Vm, "--", "stat", "-c", "%u:%g %a", "/mnt/disk/pushed.txt")).Trim());
            await LxcOkAsync("exec", Vm, "--", "rm", "/mnt/disk/pushed.txt");

            var missing = await D.LxcAsync("file", "pull", $"{Vm}/no/such/file", Path.Combine(dir, "nope.txt"));
            Assert.NotEqual(0, missing.ExitCode);
            Assert.False(File.Exists(Path.Combine(dir, "nope.txt")));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Console_show_log_has_the_boot_output()
    {
        var log = await LxcOkAsync("console", Vm, "--show-log");
        Assert.Contains(VmImage.ReadyMarker, log);
        // What the guest writes to its serial console later shows too.
        await LxcOkAsync("exec", Vm, "--", "sh", "-c", "echo console-mark-$((40+2)) > /dev/console");
        Assert.Contains("console-mark-42", await LxcOkAsync("console", Vm, "--show-log"));
    }

    [Fact]
    public async Task Info_show_log_names_the_accelerator_and_the_guest_is_named_after_the_instance()
    {
        var info = await LxcOkAsync("info", Vm, "--show-log");
        Assert.Matches(@"(?m)^accelerator: (kvm|tcg) ", info);
        Assert.Contains($"hostname={Vm}", info);
        Assert.Equal(Vm, (await LxcOkAsync("exec", Vm, "--", "hostname")).Trim());
    }

    [Fact]
    public async Task Snapshot_and_restore_bring_back_the_disk()
    {
        // No sync: the driver quiesces the guest for the snapshot.
        await LxcOkAsync("exec", Vm, "--", "sh", "-c", "echo one > /mnt/disk/marker");
        await LxcOkAsync("snapshot", Vm, "s0");
        Assert.Contains("s0", await LxcOkAsync("info", Vm));
        await LxcOkAsync("exec", Vm, "--", "sh", "-c", "echo two > /mnt/disk/marker; touch /mnt/disk/later; sync");

        await LxcOkAsync("restore", Vm, "s0");
        Assert.Equal("RUNNING", (await ListAsync(Vm)).State);
        await VmDaemon.WaitForAgentAsync(D, Vm);
        Assert.Equal("one", (await LxcOkAsync("exec", Vm, "--", "cat", "/mnt/disk/marker")).Trim());
        Assert.NotEqual(0, (await D.LxcAsync("exec", Vm, "--", "test", "-e", "/mnt/disk/later")).ExitCode);

        await LxcOkAsync("delete", $"{Vm}/s0");
        Assert.DoesNotContain("s0", await LxcOkAsync("info", Vm));
        await LxcOkAsync("exec", Vm, "--", "rm", "/mnt/disk/marker");
    }

    [Fact]
    public async Task Stop_is_a_graceful_acpi_shutdown_then_start_and_delete_force()
    {
        const string Name = "vm-life";
        try
        {
            await VmDaemon.LaunchVmAsync(D, Name);
            var pid = await VmDaemon.QemuPidAsync(D, Name);
            Assert.StartsWith("qemu-system", VmDaemon.Comm(pid));
            await LxcOkAsync("exec", Name, "--", "sh", "-c", "echo kept > /mnt/disk/kept");

            // Without --force: the ACPI power button, which the guest's acpid turns into poweroff.
            await LxcOkAsync("stop", Name);
            Assert.Equal("STOPPED", (await ListAsync(Name)).State);
            Assert.Null(VmDaemon.Comm(pid));
            Assert.Contains("power button, powering off", await LxcOkAsync("console", Name, "--show-log"));

            await LxcOkAsync("start", Name);
            Assert.Equal(("VIRTUAL-MACHINE", "RUNNING"), await ListAsync(Name));
            var pid2 = await VmDaemon.QemuPidAsync(D, Name);
            Assert.NotEqual(pid, pid2);
            await VmDaemon.WaitForAgentAsync(D, Name);
            // The clean shutdown flushed the disk.
            Assert.Equal("kept", (await LxcOkAsync("exec", Name, "--", "cat", "/mnt/disk/kept")).Trim());

            // delete --force on a running VM stops it first.
            await LxcOkAsync("delete", "--force", Name);
            Assert.DoesNotContain(Name, await LxcOkAsync("list", "--format", "csv", "-c", "n"));
            Assert.Null(VmDaemon.Comm(pid2));
            Assert.Equal(System.Net.HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/instances/" + Name)).Status);
        }
        finally
        {
            await D.LxcAsync("delete", "--force", Name);
        }
    }

    [Fact]
    public async Task Image_and_instance_type_mismatches_and_bad_vm_keys_are_refused_and_create_nothing()
    {
        var before = await LxcOkAsync("list", "--format", "csv", "-c", "n");

        // The stock client checks a local image's type itself before it sends anything.
        var vmFromContainerImage = await D.LxcAsync("launch", "--vm", "busybox", "vm-bad");
        Assert.NotEqual(0, vmFromContainerImage.ExitCode);
        Assert.Contains("Error: Asked for a VM but image is of type container", vmFromContainerImage.Stderr);

        // The daemon refuses both mismatches itself, naming the types (what a client that does not check sends).
        var ctFromVmImage = await D.Api.PostAsync("/1.0/instances",
            $$$"""{"name":"ct-bad","type":"container","source":{"type":"image","alias":"{{{VmDaemon.VmAlias}}}"}}""");
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, ctFromVmImage.Status);
        Assert.Matches("(?i)virtual-machine", ctFromVmImage.Error);
        var vmFromCtImage = await D.Api.PostAsync("/1.0/instances",
            """{"name":"vm-bad","type":"virtual-machine","source":{"type":"image","alias":"busybox"}}""");
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, vmFromCtImage.Status);
        Assert.Matches("(?i)container", vmFromCtImage.Error);

        // Memory beyond the host's and a malformed VM key: refused, naming the key.
        var huge = await D.LxcAsync("init", "--vm", VmDaemon.VmAlias, "vm-huge", "-c", "limits.memory=64TiB");
        Assert.NotEqual(0, huge.ExitCode);
        Assert.Contains("limits.memory", huge.Stderr);
        var badKey = await D.LxcAsync("init", "--vm", VmDaemon.VmAlias, "vm-key", "-c", "security.secureboot=maybe");
        Assert.NotEqual(0, badKey.ExitCode);
        Assert.Contains("security.secureboot", badKey.Stderr);

        Assert.Equal(before, await LxcOkAsync("list", "--format", "csv", "-c", "n"));
    }

    [Fact]
    public async Task Without_vm_the_client_follows_the_images_type()
    {
        // As against LXD 5.0.2: lxc reads a local image's type and asks for that instance type, so
        // `lxc init vmimage` makes a virtual machine (not started here: no boot needed).
        const string Name = "vm-typed";
        try
        {
            await LxcOkAsync("init", VmDaemon.VmAlias, Name);
            var json = await VmDaemon.ListJsonAsync(D, Name);
            Assert.Equal("virtual-machine", json.GetProperty("type").GetString());
            Assert.Equal("Stopped", json.GetProperty("status").GetString());
        }
        finally
        {
            await D.LxcAsync("delete", "--force", Name);
        }
    }

    [Fact]
    public async Task Copy_of_a_running_vm_boots_with_the_disk_and_its_own_mac()
    {
        const string Copy = "vmcopy"; // not containing "vm1": `lxc list vm1` matches by regex
        try
        {
            await LxcOkAsync("exec", Vm, "--", "sh", "-c", "echo copied-$((6*7)) > /mnt/disk/copy-mark && sync");
            await LxcOkAsync("copy", Vm, Copy);
            Assert.Equal(("VIRTUAL-MACHINE", "STOPPED"), await ListAsync(Copy));
            Assert.Equal(("VIRTUAL-MACHINE", "RUNNING"), await ListAsync(Vm));
            await LxcOkAsync("start", Copy);
            await VmDaemon.WaitForAgentAsync(D, Copy);
            Assert.Equal("copied-42", (await LxcOkAsync("exec", Copy, "--", "cat", "/mnt/disk/copy-mark")).Trim());
            Assert.Equal(Copy, (await LxcOkAsync("exec", Copy, "--", "hostname")).Trim());
            Assert.NotEqual((await LxcOkAsync("config", "get", Vm, "volatile.eth0.hwaddr")).Trim(),
                (await LxcOkAsync("config", "get", Copy, "volatile.eth0.hwaddr")).Trim());
            Assert.NotEqual(await VmDaemon.QemuPidAsync(D, Vm), await VmDaemon.QemuPidAsync(D, Copy));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", Copy);
            await D.LxcAsync("exec", Vm, "--", "rm", "-f", "/mnt/disk/copy-mark");
        }
    }

    [Fact]
    public async Task A_nic_is_hot_plugged_into_the_running_guest_and_removed_again()
    {
        var network = (await LxcOkAsync("profile", "device", "get", "default", "eth0", "network")).Trim();
        await LxcOkAsync("config", "device", "add", Vm, "eth9", "nic", $"network={network}");
        try
        {
            var mac = (await LxcOkAsync("config", "get", Vm, "volatile.eth9.hwaddr")).Trim();
            var tap = (await LxcOkAsync("config", "get", Vm, "volatile.eth9.host_name")).Trim();
            Assert.Matches("^([0-9a-f]{2}:){5}[0-9a-f]{2}$", mac);
            Assert.Contains(tap, await NetworkDaemon.BridgePortsAsync(D, network));
            // The guest's kernel sees the new virtio nic (ACPI PCI hot-plug) under the recorded address.
            Assert.True(await GuestMacsUntilAsync(macs => macs.Contains(mac)), $"{mac} never appeared in the guest");

            await LxcOkAsync("config", "device", "remove", Vm, "eth9");
            Assert.True(await GuestMacsUntilAsync(macs => !macs.Contains(mac)), $"{mac} never left the guest");
            Assert.DoesNotContain(tap, await NetworkDaemon.BridgePortsAsync(D, network));
            Assert.Equal("", (await LxcOkAsync("config", "get", Vm, "volatile.eth9.hwaddr")).Trim());
            Assert.Equal(("VIRTUAL-MACHINE", "RUNNING"), await ListAsync(Vm));
        }
        finally
        {
            await D.LxcAsync("config", "device", "remove", Vm, "eth9");
        }
    }

    /// <summary>Reads the guest's nic addresses until <paramref name="done"/> holds (a hot-plug completes asynchronously in the guest); false after 60 s.</summary>
    private async Task<bool> GuestMacsUntilAsync(Func<string, bool> done)
    {
        for (var i = 0; i < 120; i++)
        {
            if (done(await LxcOkAsync("exec", Vm, "--", "sh", "-c", "cat /sys/class/net/*/address")))
            {
                return true;
            }
            await Task.Delay(500);
        }
        return false;
    }

    [Fact]
    public async Task A_container_and_a_vm_on_the_default_managed_network_reach_each_other()
    {
        // init --auto put eth0 on lxdbr0 in the default profile: vm1 is on it (a tap), and so is a container (a veth).
        const string Ct = "ct-net";
        try
        {
            await LxcOkAsync("launch", "busybox", Ct);
            var ctIp = await NetworkDaemon.WaitForIpv4Async(D, Ct);
            var vmIp = await NetworkDaemon.WaitForIpv4Async(D, Vm);
            Assert.NotEqual(ctIp, vmIp);
            var network = (await LxcOkAsync("profile", "device", "get", "default", "eth0", "network")).Trim();
            var leases = (await D.Api.GetAsync($"/1.0/networks/{network}/leases")).Metadata;
            Assert.Contains(leases.EnumerateArray(), l => l.GetProperty("address").GetString() == vmIp);
            // The VM's tap is a port of the bridge in the daemon's namespace, under the name the instance records.
            var tap = (await LxcOkAsync("config", "get", Vm, "volatile.eth0.host_name")).Trim();
            Assert.Contains(tap, await NetworkDaemon.BridgePortsAsync(D, network));

            await LxcOkAsync("exec", Ct, "--", "ping", "-c", "1", "-W", "5", vmIp);
            await LxcOkAsync("exec", Vm, "--", "ping", "-c", "1", "-W", "5", ctIp);
        }
        finally
        {
            await D.LxcAsync("delete", "--force", Ct);
        }
    }

    /// <summary>
    /// Issue 14: a running VM in /1.0/metrics as LXD 5.0.2 reports one without its agent (getQemuMetrics): vCPU time in
    /// LXD's eight modes, the memory totals, block I/O of the root disk following a write in the guest, the nic by its
    /// device name, no processes (parsed by prometheus_client).
    /// </summary>
    [Fact]
    public async Task Metrics_of_a_running_vm_show_its_vcpus_memory_disk_and_nic()
    {
        var before = await PrometheusScrape.ScrapeAsync(D);
        // 1 MiB onto the VM's disk, flushed: the virtio disk's write counters see it.
        await LxcOkAsync("exec", Vm, "--", "sh", "-c", "dd if=/dev/zero of=/mnt/disk/metrics.bin bs=65536 count=16 conv=fsync && rm /mnt/disk/metrics.bin && sync");
        var m = await PrometheusScrape.ScrapeAsync(D);

        var cpu = PrometheusScrape.Of(m, "lxd_cpu_seconds", Vm);
        Assert.NotEmpty(cpu);
        Assert.All(cpu, s => Assert.Equal(("default", "virtual-machine"), (s.Labels["project"], s.Labels["type"])));
        Assert.Equal(["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"], cpu.Select(s => s.Labels["mode"]).Distinct().Order(StringComparer.Ordinal));
        var vcpus = (await LxcOkAsync("exec", Vm, "--", "grep", "-c", "^processor", "/proc/cpuinfo")).Trim();
        Assert.Equal(vcpus, cpu.Select(s => s.Labels["cpu"]).Distinct().Count().ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(cpu.Where(s => s.Labels["mode"] == "user").Sum(s => s.Value) > 0, "the booted guest has used vCPU time");

        var config = (await D.Api.GetAsync($"/1.0/instances/{Vm}")).Metadata.GetProperty("expanded_config");
        var total = PrometheusScrape.Of(m, "lxd_memory_MemTotal_bytes", Vm).Single().Value;
        if (!config.TryGetProperty("limits.memory", out _))
        {
            Assert.Equal(1024.0 * 1024 * 1024, total); // LXD's default for a VM
        }
        var free = PrometheusScrape.Of(m, "lxd_memory_MemFree_bytes", Vm).Single().Value;
        Assert.InRange(free, 1, total - 1); // QEMU's resident memory is taken off
        Assert.Equal(free, PrometheusScrape.Of(m, "lxd_memory_MemAvailable_bytes", Vm).Single().Value);
        Assert.Equal(0, PrometheusScrape.Of(m, "lxd_procs_total", Vm).Single().Value);
        Assert.Empty(PrometheusScrape.Of(m, "lxd_filesystem_size_bytes", Vm)); // the guest's filesystem is inside its disk image

        double Root(Dictionary<string, PrometheusScrape.Family> scrape, string family) =>
            PrometheusScrape.Of(scrape, family, Vm).Single(s => s.Labels["device"] == "dev-lxd_root").Value;
        Assert.Equal("counter", m["lxd_disk_written_bytes"].Type);
        Assert.True(Root(m, "lxd_disk_written_bytes") - Root(before, "lxd_disk_written_bytes") >= 1 << 20,
            $"written {Root(before, "lxd_disk_written_bytes")} -> {Root(m, "lxd_disk_written_bytes")}");
        Assert.True(Root(m, "lxd_disk_writes_completed") > Root(before, "lxd_disk_writes_completed"));
        Assert.True(Root(m, "lxd_disk_reads_completed") > 0 && Root(m, "lxd_disk_read_bytes") > 0, "the guest read its disk at boot");

        var nic = PrometheusScrape.Of(m, "lxd_network_transmit_packets", Vm);
        Assert.Contains(nic, s => s.Labels["device"] == "eth0" && s.Labels["type"] == "virtual-machine");
        Assert.Single(PrometheusScrape.Of(m, "lxd_network_receive_errs", Vm), s => s.Labels["device"] == "eth0");
    }
}
