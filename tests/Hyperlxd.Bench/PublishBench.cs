using System.Diagnostics;
using System.Globalization;

namespace Hyperlxd.Bench;

/// <summary>
/// `lxc publish` side by side: Hyperlxd and LXD 5.0.2 (when installed), a stopped busybox container on
/// each server's dir pool, published (gzip, the default) and the image deleted again, rounds interleaved.
/// Also `lxc launch` of the published image, which shows it is usable at once. Medians and ratios only.
/// </summary>
internal static class PublishBench
{
    private sealed class Side(Server server)
    {
        public Server Server { get; } = server;
        public List<double> Publish { get; } = new();
        public List<double> Launch { get; } = new();
        public int Failures { get; set; }
    }

    public static async Task<int> RunAsync(int rounds)
    {
        if (Program.FindBinaryAndImage() is not { } found)
        {
            return 2;
        }
        var (bin, image) = found;
        Console.WriteLine($"bench --publish: {Environment.ProcessorCount} cores, {rounds} publish rounds per server");
        await using var servers = new ServerSet();
        var sides = new List<Side>();
        try
        {
            var h = await servers.StartHyperlxdAsync(bin);
            await InstanceBench.Must(bin, ["init", "--auto"], new() { ["HYPERLXD_DIR"] = h.Dir }, null, "hyperlxd init --auto");
            sides.Add(new Side(h));
            var lxdAbsent = servers.LxdAbsentReason;
            var l = await servers.StartOrAttachLxdAsync();
            if (l is not null)
            {
                if (Environment.GetEnvironmentVariable("BENCH_LXD_DIR") is not { Length: > 0 })
                {
                    await InstanceBench.Must("lxd", ["init", "--preseed"], new() { ["LXD_DIR"] = l.Dir }, InstanceBench.LxdPreseed, "lxd init --preseed");
                }
                sides.Add(new Side(l));
            }
            else
            {
                lxdAbsent = servers.LxdAbsentReason;
            }
            foreach (var s in sides)
            {
                await Lxc(s, "image", "import", image, "--alias", "bench-busybox");
                await Lxc(s, "launch", "bench-busybox", "pub-src");
                await Lxc(s, "exec", "pub-src", "--", "sh", "-c", "dd if=/dev/urandom of=/root/blob bs=1M count=4 2>/dev/null");
                await Lxc(s, "stop", "--force", "pub-src");
            }
            for (var round = 0; round < rounds; round++)
            {
                foreach (var s in round % 2 == 0 ? sides : Enumerable.Reverse(sides).ToList())
                {
                    s.Publish.Add(await Timed(s, "publish", "pub-src", "--alias", "bench-pub"));
                    s.Launch.Add(await Timed(s, "launch", "bench-pub", "pub-dst"));
                    await InstanceBench.LxcRaw(s.Server, "delete", "--force", "pub-dst");
                    await InstanceBench.LxcRaw(s.Server, "image", "delete", "bench-pub");
                }
            }
            foreach (var s in sides)
            {
                await InstanceBench.LxcRaw(s.Server, "delete", "--force", "pub-src");
            }
            Print(sides[0], sides.Count > 1 ? sides[1] : null, lxdAbsent);
            return sides.Sum(s => s.Failures) > 0 ? 1 : 0;
        }
        catch (BenchException e)
        {
            Console.Error.WriteLine($"bench: {e.Message}");
            foreach (var s in sides)
            {
                await InstanceBench.LxcRaw(s.Server, "delete", "--force", "pub-src");
                await InstanceBench.LxcRaw(s.Server, "delete", "--force", "pub-dst");
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
        Console.WriteLine();
        Console.WriteLine("operation | Hyperlxd | LXD | ratio Hyperlxd/LXD");
        Console.WriteLine("----------|----------|-----|-------------------");
        Row("`lxc publish` stopped busybox + 4 MiB (median)", h.Publish, l?.Publish);
        Row("`lxc launch` of the published image (median)", h.Launch, l?.Launch);
        Console.WriteLine($"failures: Hyperlxd {h.Failures}, LXD {(l is null ? "n/a" : l.Failures.ToString(CultureInfo.InvariantCulture))}. Wall-clock medians of the lxc process: compare ratios.");

        void Row(string op, List<double> a, List<double>? b)
        {
            var am = Stats.Median(a);
            var bm = b is null ? (double?)null : Stats.Median(b);
            Console.WriteLine(string.Join(" | ", op, F(am) + " ms", bm is { } x ? F(x) + " ms" : "n/a: " + lxdAbsent,
                bm is > 0 ? (am / bm.Value).ToString("0.00", CultureInfo.InvariantCulture) : "n/a"));
        }
    }

    private static string F(double v) => v.ToString("0.0", CultureInfo.InvariantCulture);
}
