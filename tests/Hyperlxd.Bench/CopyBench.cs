using System.Diagnostics;
using System.Globalization;

namespace Hyperlxd.Bench;

/// <summary>
/// `lxc copy` of a stopped busybox container, side by side: Hyperlxd on its dir pool and on a btrfs pool
/// (a subvolume snapshot), LXD 5.0.2 (when installed) on its dir pool, each server in a network namespace of
/// its own. Rounds interleave the variants; each copy is deleted untimed. Medians and ratios only.
/// </summary>
internal static class CopyBench
{
    private sealed class Variant(Server server, string label, string source)
    {
        public Server Server { get; } = server;
        public string Label { get; } = label;
        public string Source { get; } = source;
        public List<double> Copies { get; } = new();
        public int Failures { get; set; }
    }

    public static async Task<int> RunAsync(int copies)
    {
        if (Program.FindBinaryAndImage() is not { } found)
        {
            return 2;
        }
        var (bin, image) = found;
        Console.WriteLine($"bench --copy: {Environment.ProcessorCount} cores, {copies} rounds of `lxc copy` of a stopped busybox container per server and pool");
        await using var servers = new ServerSet();
        var variants = new List<Variant>();
        var all = new List<Server>();
        try
        {
            var h = await servers.StartHyperlxdAsync(bin);
            all.Add(h);
            await InstanceBench.Must(bin, ["init", "--auto"], new() { ["HYPERLXD_DIR"] = h.Dir }, null, "hyperlxd init --auto");
            await Lxc(h, "storage", "create", "bench-btrfs", "btrfs", "size=2GiB");
            variants.Add(new Variant(h, "Hyperlxd dir", "src-dir"));
            variants.Add(new Variant(h, "Hyperlxd btrfs", "src-btrfs"));
            var l = await servers.StartOrAttachLxdAsync();
            if (l is not null)
            {
                all.Add(l);
                if (Environment.GetEnvironmentVariable("BENCH_LXD_DIR") is not { Length: > 0 })
                {
                    await InstanceBench.Must("lxd", ["init", "--preseed"], new() { ["LXD_DIR"] = l.Dir }, InstanceBench.LxdPreseed, "lxd init --preseed");
                }
                variants.Add(new Variant(l, "LXD dir", "src-dir"));
            }
            foreach (var v in variants)
            {
                if (v.Source == "src-dir")
                {
                    await Lxc(v.Server, "image", "import", image, "--alias", "bench-busybox");
                }
                // Launched and stopped (a stopped container that has run once, as users copy them).
                await Lxc(v.Server, "launch", "bench-busybox", v.Source, "-s", v.Source == "src-dir" ? "default" : "bench-btrfs");
                await Lxc(v.Server, "stop", "--force", v.Source);
                await Lxc(v.Server, "copy", v.Source, "warm"); // first copy: caches and page cache warm
                await Lxc(v.Server, "delete", "--force", "warm");
            }
            for (var round = 0; round < copies; round++)
            {
                foreach (var v in round % 2 == 0 ? variants : Enumerable.Reverse(variants).ToList())
                {
                    var name = $"c{round}";
                    var t0 = Stopwatch.GetTimestamp();
                    var (rc, output) = await InstanceBench.LxcRaw(v.Server, "copy", v.Source, name);
                    v.Copies.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                    if (rc != 0)
                    {
                        v.Failures++;
                        Console.Error.WriteLine($"bench: {v.Label}: lxc copy exited {rc}: {output.Trim()}");
                    }
                    await Lxc(v.Server, "delete", "--force", name);
                }
            }
            Print(variants, servers.LxdAbsentReason);
            return variants.Sum(v => v.Failures) > 0 ? 1 : 0;
        }
        catch (Exception e) when (e is BenchException or IOException)
        {
            Console.Error.WriteLine($"bench: {e.Message}");
            return 2;
        }
        finally
        {
            foreach (var s in all)
            {
                var (_, names) = await InstanceBench.LxcRaw(s, "list", "-c", "n", "--format", "csv");
                foreach (var n in names.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    await InstanceBench.LxcRaw(s, "delete", "--force", n.Trim());
                }
            }
        }
    }

    private static async Task Lxc(Server s, params string[] args)
    {
        var (rc, output) = await InstanceBench.LxcRaw(s, args);
        if (rc != 0)
        {
            throw new BenchException($"{s.Name}: lxc {string.Join(' ', args)} exited {rc}: {output.Trim()}");
        }
    }

    private static void Print(List<Variant> variants, string lxdAbsent)
    {
        string F(double v) => v.ToString("0.0", CultureInfo.InvariantCulture);
        string R(double a, double b) => b > 0 ? (a / b).ToString("0.00", CultureInfo.InvariantCulture) : "n/a";
        Console.WriteLine();
        Console.WriteLine("server, pool    | lxc copy (median) | p90");
        Console.WriteLine("----------------|-------------------|------");
        foreach (var v in variants)
        {
            Console.WriteLine($"{v.Label,-15} | {F(Stats.Median(v.Copies))} ms | {F(Stats.Percentile(v.Copies, 0.9))} ms");
        }
        if (variants.FirstOrDefault(v => v.Label == "LXD dir") is { } lxd)
        {
            var l = Stats.Median(lxd.Copies);
            Console.WriteLine($"ratio Hyperlxd/LXD (dir): {R(Stats.Median(variants[0].Copies), l)}; Hyperlxd btrfs/LXD dir: {R(Stats.Median(variants[1].Copies), l)}");
        }
        else
        {
            Console.WriteLine($"LXD: n/a: {lxdAbsent}");
        }
        Console.WriteLine($"failures: {string.Join(", ", variants.Select(v => $"{v.Label} {v.Failures}"))}. Wall-clock medians of the lxc process on a shared machine: compare ratios.");
    }
}
