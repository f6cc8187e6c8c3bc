using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Hyperlxd.Bench;

/// <summary>
/// Virtual machines, side by side in one run: a VM created through the API (`lxc launch --vm` of the
/// VM test image, then `lxc exec -- true` polled until the guest agent runs it) against a raw
/// `qemu-system-x86_64` boot of the same kernel, initramfs and disk to the same point (its agent
/// socket answers guest-sync); `lxc stop --force`; the daemon's RSS with N VMs running (with each
/// QEMU's RSS for context). LXD 5.0.2 cannot be the other column: it refuses VMs on these hosts.
/// Rounds interleave the two sides; medians, differences and ratios only.
/// </summary>
internal static class VmBench
{
    private const string Alias = "bench-vm";

    private sealed class Samples
    {
        public List<double> ApiBoot { get; } = new();
        public List<double> RawBoot { get; } = new();
        public List<double> StopForce { get; } = new();
        public List<double> RawKill { get; } = new();
        public int Failures { get; set; }
    }

    public static async Task<int> RunAsync(int boots, int running)
    {
        if (Program.FindBinaryAndImage() is not { } found)
        {
            return 2;
        }
        var (bin, busybox) = found;
        var images = Path.GetDirectoryName(busybox)!;
        var tarball = Path.Combine(images, "vm.tar.gz");
        var bootDir = Path.Combine(images, "vm");
        var disk = Path.Combine(images, "vm.rootfs.img");
        if (!File.Exists(tarball) || !File.Exists(Path.Combine(bootDir, "vmlinuz")) || !File.Exists(disk))
        {
            Console.Error.WriteLine($"bench: the VM test image is missing under {images}: run `dotnet cake --target=Images`");
            return 2;
        }
        Console.WriteLine($"bench --vm: {Environment.ProcessorCount} cores, {boots} rounds of VM create -> guest agent answering (API and raw QEMU), " +
            $"`lxc stop --force`, then {running} VMs running");
        Console.WriteLine("bench: LXD 5.0.2 refuses VMs on this host (\"vhost_vsock kernel module not loaded\": no /dev/vhost-vsock), " +
            "so the comparison is with a raw qemu-system-x86_64 boot of the same kernel, initramfs and disk instead");

        var samples = new Samples();
        await using var servers = new ServerSet();
        Server? h = null;
        try
        {
            h = await servers.StartHyperlxdAsync(bin);
            await InstanceBench.Must(bin, ["init", "--auto"], new() { ["HYPERLXD_DIR"] = h.Dir }, null, "hyperlxd init --auto");
            // No nic, as the raw side's `-nic none`: the guest's DHCP client must not differ between the two.
            await Lxc(h, "profile", "device", "remove", "default", "eth0");
            await Lxc(h, "image", "import", tarball, "--alias", Alias);
            var accel = await AcceleratorAsync(h);
            Console.WriteLine($"bench: the daemon's VMs use {accel}; the raw QEMU runs with -accel {(accel == "kvm" ? "kvm" : "tcg")}");
            var raw = new RawQemu(bootDir, disk, accel == "kvm" ? "kvm" : "tcg");
            var idleRss = h.RssKiB();

            // Warm-up, untimed: the first launch prepares the pool's image volume; both sides read the files once.
            await ApiBootAsync(h, "vm-warm", samples, record: false);
            await Lxc(h, "delete", "--force", "vm-warm");
            await raw.BootAsync(record: null, kill: null);

            for (var round = 0; round < boots; round++)
            {
                var apiFirst = round % 2 == 0;
                for (var side = 0; side < 2; side++)
                {
                    if ((side == 0) == apiFirst)
                    {
                        var name = $"vm-b{round}";
                        if (await ApiBootAsync(h, name, samples, record: true))
                        {
                            samples.StopForce.Add(await Timed(h, samples, "stop", "--force", name));
                        }
                        await LxcRaw(h, "delete", "--force", name);
                    }
                    else
                    {
                        await raw.BootAsync(samples.RawBoot, samples.RawKill);
                    }
                }
            }

            var (daemonRss, qemuRss) = await RunningAsync(h, running, samples);
            Print(samples, idleRss, daemonRss, qemuRss, running);
            return samples.Failures > 0 ? 1 : 0;
        }
        catch (Exception e) when (e is BenchException or IOException or SocketException)
        {
            Console.Error.WriteLine($"bench: {e.Message}");
            return 2;
        }
        finally
        {
            if (h is not null)
            {
                var (_, names) = await LxcRaw(h, "list", "-c", "n", "--format", "csv");
                foreach (var n in names.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    await LxcRaw(h, "delete", "--force", n.Trim());
                }
            }
        }
    }

    /// <summary>`lxc launch --vm`, then `lxc exec -- true` until it succeeds: create to guest agent answering.</summary>
    private static async Task<bool> ApiBootAsync(Server h, string name, Samples samples, bool record)
    {
        var t0 = Stopwatch.GetTimestamp();
        var (rc, output) = await LxcRaw(h, "launch", "--vm", Alias, name);
        if (rc != 0)
        {
            samples.Failures++;
            Console.Error.WriteLine($"bench: lxc launch --vm {name} exited {rc}: {output.Trim()}");
            return false;
        }
        if (!await WaitForAgentAsync(h, name))
        {
            samples.Failures++;
            return false;
        }
        if (record)
        {
            samples.ApiBoot.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        return true;
    }

    private static async Task<bool> WaitForAgentAsync(Server h, string name)
    {
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 240;
        var last = "";
        while (Stopwatch.GetTimestamp() < deadline)
        {
            var (rc, output) = await LxcRaw(h, "exec", name, "--", "true");
            if (rc == 0)
            {
                return true;
            }
            last = output;
        }
        Console.Error.WriteLine($"bench: the agent of {name} did not answer within 240 s: {last.Trim()}");
        return false;
    }

    /// <summary>Launches <paramref name="count"/> VMs, waits for every agent, reads the daemon's and each QEMU's RSS.</summary>
    private static async Task<(long? Daemon, List<long> Qemu)> RunningAsync(Server h, int count, Samples samples)
    {
        var names = Enumerable.Range(0, count).Select(i => $"vm-r{i}").ToList();
        foreach (var n in names)
        {
            var (rc, output) = await LxcRaw(h, "launch", "--vm", Alias, n);
            if (rc != 0)
            {
                samples.Failures++;
                Console.Error.WriteLine($"bench: lxc launch --vm {n} exited {rc}: {output.Trim()}");
            }
        }
        var qemu = new List<long>();
        foreach (var n in names)
        {
            if (!await WaitForAgentAsync(h, n))
            {
                samples.Failures++;
                continue;
            }
            var (rc, state) = await LxcRaw(h, "query", $"/1.0/instances/{n}/state");
            if (rc == 0 && JsonDocument.Parse(state).RootElement.GetProperty("pid").GetInt32() is var pid && pid > 0 && RssKiB(pid) is { } kib)
            {
                qemu.Add(kib);
            }
        }
        await Task.Delay(2000); // let the daemon settle after the boots before reading its RSS
        var daemon = h.RssKiB();
        foreach (var n in names)
        {
            await LxcRaw(h, "delete", "--force", n);
        }
        return (daemon, qemu);
    }

    /// <summary>What the daemon says its VMs run on (an environment key naming the accelerator), "tcg" when it says nothing.</summary>
    private static async Task<string> AcceleratorAsync(Server h)
    {
        var (rc, json) = await LxcRaw(h, "query", "/1.0");
        if (rc == 0 && JsonDocument.Parse(json).RootElement.TryGetProperty("environment", out var env))
        {
            foreach (var p in env.EnumerateObject())
            {
                if (p.Name.Contains("accel", StringComparison.OrdinalIgnoreCase) && p.Value.ValueKind == JsonValueKind.String)
                {
                    return p.Value.GetString()!.Contains("kvm", StringComparison.OrdinalIgnoreCase) ? "kvm" : "tcg";
                }
            }
        }
        return "tcg";
    }

    private static long? RssKiB(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? null : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static async Task<double> Timed(Server h, Samples samples, params string[] args)
    {
        var t0 = Stopwatch.GetTimestamp();
        var (rc, output) = await LxcRaw(h, args);
        var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        if (rc != 0)
        {
            samples.Failures++;
            Console.Error.WriteLine($"bench: lxc {string.Join(' ', args)} exited {rc}: {output.Trim()}");
        }
        return ms;
    }

    private static Task<(int Rc, string Output)> LxcRaw(Server h, params string[] args) => InstanceBench.LxcRaw(h, args);

    private static async Task Lxc(Server h, params string[] args)
    {
        var (rc, output) = await LxcRaw(h, args);
        if (rc != 0)
        {
            throw new BenchException($"lxc {string.Join(' ', args)} exited {rc}: {output.Trim()}");
        }
    }

    private static void Print(Samples s, long? idleRss, long? daemonRss, List<long> qemuRss, int running)
    {
        static string Ms(double v) => double.IsNaN(v) ? "n/a" : v.ToString("0", CultureInfo.InvariantCulture) + " ms";
        static string Mb(long? kib) => kib is { } k ? (k / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " MB" : "n/a";
        var api = Stats.Median(s.ApiBoot);
        var raw = Stats.Median(s.RawBoot);
        var stop = Stats.Median(s.StopForce);
        var kill = Stats.Median(s.RawKill);
        var rows = new List<string[]>
        {
            new[] { "operation", "Hyperlxd (API) median", "raw QEMU median", "difference", "ratio", "target" },
            new[] { "VM create -> guest agent answering", Ms(api), Ms(raw), Ms(api - raw), Ratio(api, raw), "<= raw + 300 ms" },
            new[] { "VM stop --force (raw: SIGKILL to exit)", Ms(stop), Ms(kill), Ms(stop - kill), Ratio(stop, kill), "(none)" },
            new[] { $"daemon RSS, {running} VMs running (idle: {Mb(idleRss)})", Mb(daemonRss), "n/a", "", "", "(none)" },
            new[] { $"QEMU RSS per VM (median of {qemuRss.Count})", qemuRss.Count > 0 ? Mb((long)Stats.Median(qemuRss.Select(k => (double)k).ToList())) : "n/a", "", "", "", "(context)" },
        };
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        Console.WriteLine();
        for (var i = 0; i < rows.Count; i++)
        {
            Console.WriteLine(string.Join(" | ", rows[i].Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
            if (i == 0)
            {
                Console.WriteLine(string.Join("-|-", widths.Select(w => new string('-', w))));
            }
        }
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"API boot n={s.ApiBoot.Count} p10={Stats.Percentile(s.ApiBoot, 0.1):0} p90={Stats.Percentile(s.ApiBoot, 0.9):0} ms; " +
            $"raw boot n={s.RawBoot.Count} p10={Stats.Percentile(s.RawBoot, 0.1):0} p90={Stats.Percentile(s.RawBoot, 0.9):0} ms; " +
            $"stop --force n={s.StopForce.Count}; failures {s.Failures}"));
        Console.WriteLine($"create -> agent: {(api - raw <= 300 ? "within" : "NOT within")} raw + 300 ms. " +
            "The API side includes the lxc processes (launch, and each exec poll); the raw side polls its agent socket directly.");
        Console.WriteLine("LXD: n/a: LXD 5.0.2 refuses VMs on this host (vhost_vsock kernel module not loaded).");
        Console.WriteLine("Timings are wall-clock medians on a shared machine under TCG (software emulation): compare the difference and ratio.");

        static string Ratio(double a, double b) => b > 0 ? (a / b).ToString("0.00", CultureInfo.InvariantCulture) : "n/a";
    }

    /// <summary>
    /// A plain QEMU boot shaped like the daemon's domain (machine pc, 1 vCPU, 1 GiB, the image's kernel,
    /// initramfs and command line, its disk as a qcow2 overlay on virtio, the agent on virtio-serial,
    /// a serial console to a file, a balloon) and no network at all (-nic none).
    /// </summary>
    private sealed class RawQemu(string bootDir, string disk, string accel)
    {
        private int _run;

        /// <summary>One boot: spawn to the agent's first guest-sync reply (recorded), then SIGKILL to exit (recorded).</summary>
        public async Task BootAsync(List<double>? record, List<double>? kill)
        {
            var dir = Directory.CreateTempSubdirectory("hyperlxd-bench-rawvm-").FullName;
            try
            {
                var overlay = Path.Combine(dir, "root.qcow2");
                await InstanceBench.Must("qemu-img", ["create", "-q", "-f", "qcow2", "-b", Path.GetFullPath(disk), "-F", "qcow2", overlay], new(), null, "qemu-img create");
                var socketPath = Path.Combine(dir, "qga.sock");
                var cmdline = (await File.ReadAllTextAsync(Path.Combine(bootDir, "cmdline"))).Trim();
                var args = new List<string>
                {
                    "-machine", "pc", "-accel", accel, "-m", "1024", "-smp", "1", "-nodefaults", "-no-user-config",
                    "-display", "none", "-vga", "none", "-nic", "none",
                    "-kernel", Path.Combine(bootDir, "vmlinuz"), "-initrd", Path.Combine(bootDir, "initrd.img"), "-append", cmdline,
                    "-drive", $"file={overlay},if=virtio,format=qcow2,discard=unmap",
                    "-serial", $"file:{Path.Combine(dir, "console.log")}",
                    "-chardev", $"socket,id=qga,path={socketPath},server=on,wait=off",
                    "-device", "virtio-serial-pci", "-device", "virtserialport,chardev=qga,name=org.qemu.guest_agent.0",
                    "-device", "virtio-balloon-pci",
                };
                var psi = new ProcessStartInfo("qemu-system-x86_64") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
                foreach (var a in args)
                {
                    psi.ArgumentList.Add(a);
                }
                var t0 = Stopwatch.GetTimestamp();
                using var qemu = Process.Start(psi) ?? throw new BenchException("cannot start qemu-system-x86_64");
                var stderr = qemu.StandardError.ReadToEndAsync();
                _ = qemu.StandardOutput.ReadToEndAsync();
                try
                {
                    if (!await WaitForAgentAsync(qemu, socketPath, ++_run))
                    {
                        throw new BenchException($"raw QEMU: no guest-sync reply within 240 s (exit {(qemu.HasExited ? qemu.ExitCode : "-")}): " +
                            (qemu.HasExited ? await stderr : "") + $" console: {dir}/console.log");
                    }
                    record?.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                }
                finally
                {
                    var k0 = Stopwatch.GetTimestamp();
                    if (!qemu.HasExited)
                    {
                        qemu.Kill();
                    }
                    await qemu.WaitForExitAsync();
                    kill?.Add(Stopwatch.GetElapsedTime(k0).TotalMilliseconds);
                }
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        /// <summary>
        /// One connection to the agent socket; a guest-sync with a fresh id every 100 ms until a reply with
        /// one of those ids arrives (what is written before the guest opens its port waits in the socket, and
        /// qemu-ga answers it as soon as it starts).
        /// </summary>
        private static async Task<bool> WaitForAgentAsync(Process qemu, string socketPath, int run)
        {
            var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 240;
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            while (true)
            {
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
                    break;
                }
                catch (SocketException) when (!qemu.HasExited && Stopwatch.GetTimestamp() < deadline)
                {
                    await Task.Delay(5);
                }
            }
            var buffer = new byte[4096];
            var received = new StringBuilder();
            var id = run * 1_000_000L;
            var sent = new HashSet<long>();
            while (!qemu.HasExited && Stopwatch.GetTimestamp() < deadline)
            {
                // Until the guest opens its port QEMU leaves the bytes in the socket: send only while there is room.
                if (socket.Poll(0, SelectMode.SelectWrite))
                {
                    id++;
                    sent.Add(id);
                    socket.Send(Encoding.ASCII.GetBytes($"{{\"execute\":\"guest-sync\",\"arguments\":{{\"id\":{id}}}}}\n"));
                }
                var until = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 10;
                while (Stopwatch.GetTimestamp() < until)
                {
                    if (!socket.Poll(10_000, SelectMode.SelectRead))
                    {
                        continue;
                    }
                    var n = socket.Receive(buffer);
                    if (n == 0)
                    {
                        return false;
                    }
                    received.Append(Encoding.ASCII.GetString(buffer, 0, n));
                    var text = received.ToString();
                    int nl;
                    while ((nl = text.IndexOf('\n', StringComparison.Ordinal)) >= 0)
                    {
                        var line = text[..nl].Trim().TrimStart('\xff');
                        text = text[(nl + 1)..];
                        if (line.StartsWith('{') && JsonDocument.Parse(line).RootElement.TryGetProperty("return", out var ret)
                            && ret.ValueKind == JsonValueKind.Number && sent.Contains(ret.GetInt64()))
                        {
                            return true;
                        }
                    }
                    received.Clear().Append(text);
                }
            }
            return false;
        }
    }
}
