using System.Diagnostics;
using System.Globalization;

namespace Hyperlxd.Bench;

/// <summary>
/// Backups side by side: `lxc export` and `lxc import` of a stopped busybox container (one snapshot, gzip,
/// LXD's default) on Hyperlxd and LXD 5.0.2 (when installed), the same `lxc` client, rounds interleaved. Medians and ratios.
/// </summary>
internal static class BackupBench
{
    private sealed class Side(Server server)
    {
        public Server Server { get; } = server;
        public List<double> Export { get; } = new();
        public List<double> Import { get; } = new();
        public long Bytes { get; set; }
    }

    public static async Task<int> RunAsync(int rounds)
    {
        if (Program.FindBinaryAndImage() is not { } found)
        {
            return 2;
        }
        var (bin, image) = found;
        Console.WriteLine($"bench --backup: {Environment.ProcessorCount} cores, {rounds} export/import rounds of a busybox container with one snapshot");
        await using var servers = new ServerSet();
        var sides = new List<Side>();
        var files = Directory.CreateTempSubdirectory("hlx-bench-backup-").FullName;
        try
        {
            var h = await servers.StartHyperlxdAsync(bin);
            await InstanceBench.Must(bin, new[] { "init", "--auto" }, new() { ["HYPERLXD_DIR"] = h.Dir }, null, "hyperlxd init --auto");
            sides.Add(new Side(h));
            var l = await servers.StartOrAttachLxdAsync();
            if (l is not null)
            {
                if (Environment.GetEnvironmentVariable("BENCH_LXD_DIR") is not { Length: > 0 })
                {
                    await InstanceBench.Must("lxd", new[] { "init", "--preseed" }, new() { ["LXD_DIR"] = l.Dir }, InstanceBench.LxdPreseed, "lxd init --preseed");
                }
                sides.Add(new Side(l));
            }
            foreach (var s in sides)
            {
                await Lxc(s, "image", "import", image, "--alias", "bench-busybox");
                await Lxc(s, "launch", "bench-busybox", "bk");
                await Lxc(s, "stop", "--force", "bk");
                await Lxc(s, "snapshot", "bk", "s0"); // stopped: LXD cannot freeze a running container on this host
            }
            for (var round = 0; round < rounds; round++)
            {
                foreach (var s in round % 2 == 0 ? sides : Enumerable.Reverse(sides).ToList())
                {
                    var file = Path.Combine(files, $"{s.Server.Name}-{round}.tar.gz");
                    s.Export.Add(await Timed(s, "export", "bk", file));
                    s.Bytes = new FileInfo(file).Length;
                    s.Import.Add(await Timed(s, "import", file, $"imp{round}"));
                    await Lxc(s, "delete", $"imp{round}");
                    File.Delete(file);
                }
            }
            foreach (var s in sides)
            {
                await InstanceBench.LxcRaw(s.Server, "delete", "--force", "bk");
            }
            Print(sides[0], sides.Count > 1 ? sides[1] : null, servers.LxdAbsentReason);
            return 0;
        }
        catch (BenchException e)
        {
            Console.Error.WriteLine($"bench: {e.Message}");
            return 1;
        }
        finally
        {
            Directory.Delete(files, true);
        }
    }

    private static async Task<double> Timed(Side s, params string[] args)
    {
        var t0 = Stopwatch.GetTimestamp();
        await Lxc(s, args);
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
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
        Row("`lxc export` (median)", h.Export, l?.Export);
        Row("`lxc import` (median)", h.Import, l?.Import);
        Console.WriteLine($"tarball size | {h.Bytes} B | {(l is null ? "n/a" : l.Bytes + " B")} |");
        Console.WriteLine("Wall-clock medians of the lxc process on a shared machine: compare ratios.");

        void Row(string op, List<double> a, List<double>? b)
        {
            var am = Stats.Median(a);
            var bm = b is null ? (double?)null : Stats.Median(b);
            Console.WriteLine($"{op} | {F(am)} ms | {(bm is { } x ? F(x) + " ms" : "n/a: " + lxdAbsent)} | {(bm is > 0 ? (am / bm.Value).ToString("0.00", CultureInfo.InvariantCulture) : "n/a")}");
        }
    }

    private static string F(double v) => v.ToString("0.0", CultureInfo.InvariantCulture);
}
