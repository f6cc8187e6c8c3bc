using System.Diagnostics;
using System.Globalization;

namespace Hyperlxd.Bench;

/// <summary>
/// What a nic costs a launch, side by side: `lxc launch` of the busybox image with one nic on the
/// server's managed bridge (lxdbr0) and without any nic, on Hyperlxd and on LXD 5.0.2 (when
/// installed), each server in a network namespace of its own. Rounds interleave servers and
/// variants; medians, the nic's added time and ratios only.
/// </summary>
internal static class NetworkBench
{
    private sealed class Side(Server server)
    {
        public Server Server { get; } = server;
        public List<double> WithNic { get; } = new();
        public List<double> Bare { get; } = new();
        public int Failures { get; set; }
    }

    public static async Task<int> RunAsync(int launches)
    {
        if (Program.FindBinaryAndImage() is not { } found)
        {
            return 2;
        }
        var (bin, image) = found;
        Console.WriteLine($"bench --network: {Environment.ProcessorCount} cores, {launches} rounds of `lxc launch` with one nic on lxdbr0 and without a nic per server");
        await using var servers = new ServerSet();
        var sides = new List<Side>();
        try
        {
            var h = await servers.StartHyperlxdAsync(bin);
            await InstanceBench.Must(bin, ["init", "--auto"], new() { ["HYPERLXD_DIR"] = h.Dir }, null, "hyperlxd init --auto");
            sides.Add(new Side(h));
            var l = await servers.StartOrAttachLxdAsync();
            if (l is not null)
            {
                if (Environment.GetEnvironmentVariable("BENCH_LXD_DIR") is not { Length: > 0 })
                {
                    await InstanceBench.Must("lxd", ["init", "--preseed"], new() { ["LXD_DIR"] = l.Dir }, InstanceBench.LxdPreseed, "lxd init --preseed");
                }
                sides.Add(new Side(l));
            }
            foreach (var s in sides)
            {
                await Lxc(s, "image", "import", image, "--alias", "bench-busybox");
                // The same two profiles on both servers: root disk only, and root disk + eth0 on lxdbr0.
                await Lxc(s, "profile", "create", "bench-bare");
                await Lxc(s, "profile", "device", "add", "bench-bare", "root", "disk", "path=/", "pool=default");
                await Lxc(s, "profile", "copy", "bench-bare", "bench-nic");
                await Lxc(s, "profile", "device", "add", "bench-nic", "eth0", "nic", "network=lxdbr0", "name=eth0");
                foreach (var p in new[] { "bench-nic", "bench-bare" })
                {
                    await Lxc(s, "launch", "bench-busybox", "warm", "-p", p);
                    await Lxc(s, "delete", "--force", "warm");
                }
            }
            for (var round = 0; round < launches; round++)
            {
                foreach (var s in round % 2 == 0 ? sides : Enumerable.Reverse(sides).ToList())
                {
                    var variants = round % 2 == 0 ? new[] { true, false } : new[] { false, true };
                    foreach (var nic in variants)
                    {
                        var name = $"n{round}{(nic ? "n" : "b")}";
                        (nic ? s.WithNic : s.Bare).Add(await Timed(s, "launch", "bench-busybox", name, "-p", nic ? "bench-nic" : "bench-bare"));
                        await Lxc(s, "delete", "--force", name);
                    }
                }
            }
            Print(sides[0], sides.Count > 1 ? sides[1] : null, servers.LxdAbsentReason);
            return sides.Sum(s => s.Failures) > 0 ? 1 : 0;
        }
        catch (Exception e) when (e is BenchException or IOException)
        {
            Console.Error.WriteLine($"bench: {e.Message}");
            foreach (var s in sides)
            {
                var (_, names) = await InstanceBench.LxcRaw(s.Server, "list", "-c", "n", "--format", "csv");
                foreach (var n in names.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    await InstanceBench.LxcRaw(s.Server, "delete", "--force", n.Trim());
                }
            }
            return 2;
        }
    }

    private static async Task<double> Timed(Side s, params string[] args)
    {
        var t0 = Stopwatch.GetTimestamp();
        var (rc, output) = await InstanceBench.LxcRaw(s.Server, args);
        var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        if (rc != 0)
        {
            s.Failures++;
            Console.Error.WriteLine($"bench: {s.Server.Name}: lxc {string.Join(' ', args)} exited {rc}: {output.Trim()}");
        }
        return ms;
    }

    private static async Task Lxc(Side s, params string[] args)
    {
        var (rc, output) = await InstanceBench.LxcRaw(s.Server, args);
        if (rc != 0)
        {
            throw new BenchException($"{s.Server.Name}: lxc {string.Join(' ', args)} exited {rc}: {output.Trim()}");
        }
    }

    private static void Print(Side h, Side? l, string lxdAbsent)
    {
        string F(double v) => v.ToString("0.0", CultureInfo.InvariantCulture);
        string R(double a, double b) => b > 0 ? (a / b).ToString("0.00", CultureInfo.InvariantCulture) : "n/a";
        var hNic = Stats.Median(h.WithNic);
        var hBare = Stats.Median(h.Bare);
        Console.WriteLine();
        Console.WriteLine("server   | launch, nic on lxdbr0 (median) | launch, no nic (median) | nic adds (<= 10 ms) | ratio nic/no nic");
        Console.WriteLine("---------|--------------------------------|-------------------------|---------------------|-----------------");
        Console.WriteLine($"Hyperlxd | {F(hNic)} ms | {F(hBare)} ms | {F(hNic - hBare)} ms | {R(hNic, hBare)}");
        if (l is not null)
        {
            var lNic = Stats.Median(l.WithNic);
            var lBare = Stats.Median(l.Bare);
            Console.WriteLine($"LXD      | {F(lNic)} ms | {F(lBare)} ms | {F(lNic - lBare)} ms | {R(lNic, lBare)}");
            Console.WriteLine($"ratio Hyperlxd/LXD: launch with a nic {R(hNic, lNic)} (target <= 0.2), without {R(hBare, lBare)}");
        }
        else
        {
            Console.WriteLine($"LXD: n/a: {lxdAbsent}");
        }
        Console.WriteLine($"failures: Hyperlxd {h.Failures}, LXD {(l is null ? "n/a" : l.Failures.ToString(CultureInfo.InvariantCulture))}. Wall-clock medians of the lxc process on a shared machine: compare ratios.");
    }
}
