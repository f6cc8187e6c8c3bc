using System.Diagnostics;
using System.Globalization;

namespace Hyperlxd.Bench;

/// <summary>
/// Containers side by side: Hyperlxd and LXD 5.0.2 (when installed), the same busybox tarball and the
/// same `lxc` client. Launch, `exec -- true`, `file push`/`pull` and `stop --force` interleave per round; then N containers
/// run on each server for `lxc list`, daemon RSS and host memory per container (PSS of each
/// container's monitor = its init's parent, and MemAvailable drop / N). Each round also times the
/// daemon's own share through the REST API (<see cref="ApiShare"/>). Medians and ratios only.
/// </summary>
internal static class InstanceBench
{
    /// <summary>
    /// What `lxd init --auto` makes (and `hyperlxd init --auto` alike): a dir pool and a managed bridge
    /// with eth0 on it in the default profile. The bridge lives in LXD's own network namespace.
    /// </summary>
    internal const string LxdPreseed = """
        networks:
        - name: lxdbr0
          type: bridge
          config:
            ipv4.address: 10.218.40.1/24
            ipv4.nat: "true"
            ipv6.address: none
        storage_pools:
        - name: default
          driver: dir
        profiles:
        - name: default
          devices:
            root:
              path: /
              pool: default
              type: disk
            eth0:
              name: eth0
              network: lxdbr0
              type: nic
        """;

    private sealed class Side(Server server)
    {
        public Server Server { get; } = server;
        public ApiShare Api { get; } = new(Path.Combine(server.Dir, "unix.socket"));
        public List<double> Launch { get; } = new();
        public List<double> Exec { get; } = new();
        public List<double> StopForce { get; } = new();
        public List<double> FilePush { get; } = new();
        public List<double> FilePull { get; } = new();
        public List<double> List { get; } = new();
        public long? RssIdleKiB { get; set; }
        public long? RssLoadedKiB { get; set; }
        public double? MonitorPssKiB { get; set; }
        public double? MemAvailableDropKiB { get; set; }
        public int Failures { get; set; }
    }

    public static async Task<int> RunAsync(int launches, int running)
    {
        if (Program.FindBinaryAndImage() is not { } found)
        {
            return 2;
        }
        var (bin, image) = found;
        Console.WriteLine($"bench --instances: {Environment.ProcessorCount} cores, {launches} launch/exec/stop rounds, {running} running containers per server");
        await using var servers = new ServerSet();
        var sides = new List<Side>();
        var files = Directory.CreateTempSubdirectory("hlx-bench-files-").FullName;
        var payload = Path.Combine(files, "payload");
        await File.WriteAllBytesAsync(payload, new byte[64 << 10]);
        try
        {
            var h = await servers.StartHyperlxdAsync(bin);
            await Must(bin, new[] { "init", "--auto" }, new() { ["HYPERLXD_DIR"] = h.Dir }, null, "hyperlxd init --auto");
            sides.Add(new Side(h));
            var lxdAbsent = servers.LxdAbsentReason;
            var l = await servers.StartOrAttachLxdAsync();
            if (l is not null)
            {
                if (Environment.GetEnvironmentVariable("BENCH_LXD_DIR") is not { Length: > 0 })
                {
                    await Must("lxd", new[] { "init", "--preseed" }, new() { ["LXD_DIR"] = l.Dir }, LxdPreseed, "lxd init --preseed");
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
                s.RssIdleKiB = s.Server.RssKiB();
                // Warm-up: the first launch unpacks the image into the pool.
                await Lxc(s, "launch", "bench-busybox", "warm");
                await Lxc(s, "exec", "warm", "--", "true");
                await Lxc(s, "delete", "--force", "warm");
                await s.Api.WarmUpAsync("bench-busybox", 5);
            }

            for (var round = 0; round < launches; round++)
            {
                var order = round % 2 == 0 ? sides : Enumerable.Reverse(sides).ToList();
                foreach (var s in order)
                {
                    var name = $"b{round}";
                    s.Launch.Add(await Timed(s, "launch", "bench-busybox", name));
                    s.Exec.Add(await Timed(s, "exec", name, "--", "true"));
                    s.FilePush.Add(await Timed(s, "file", "push", payload, $"{name}/root/payload"));
                    s.FilePull.Add(await Timed(s, "file", "pull", $"{name}/root/payload", Path.Combine(files, "pulled")));
                    s.StopForce.Add(await Timed(s, "stop", "--force", name));
                    await Lxc(s, "delete", name);
                    await s.Api.RoundAsync("bench-busybox", $"a{round}");
                }
            }

            foreach (var s in sides)
            {
                var availBefore = MemAvailableKiB();
                for (var i = 0; i < running; i++)
                {
                    await Lxc(s, "launch", "bench-busybox", $"r{i}");
                }
                await Task.Delay(2000);
                s.MemAvailableDropKiB = (availBefore - MemAvailableKiB()) / (double)running;
                s.RssLoadedKiB = s.Server.RssKiB();
                s.MonitorPssKiB = await MonitorPssAsync(s, running);
            }
            for (var round = 0; round < launches; round++)
            {
                foreach (var s in round % 2 == 0 ? sides : Enumerable.Reverse(sides).ToList())
                {
                    s.List.Add(await Timed(s, "list"));
                }
            }
            foreach (var s in sides)
            {
                for (var i = 0; i < running; i++)
                {
                    await Lxc(s, "delete", "--force", $"r{i}");
                }
            }
            Print(sides[0], sides.Count > 1 ? sides[1] : null, running, lxdAbsent);
            return sides.Sum(s => s.Failures) > 0 ? 1 : 0;
        }
        catch (Exception e) when (e is BenchException or HttpRequestException or System.Net.WebSockets.WebSocketException or IOException or System.Text.Json.JsonException)
        {
            // Whatever failed, the containers made so far must not outlive the run.
            Console.Error.WriteLine($"bench: {e.Message}");
            foreach (var s in sides)
            {
                await CleanupAsync(s);
            }
            return 2;
        }
        finally
        {
            Directory.Delete(files, true);
        }
    }

    private static async Task CleanupAsync(Side s)
    {
        var (_, names) = await LxcRaw(s.Server, "list", "-c", "n", "--format", "csv");
        foreach (var n in names.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            await LxcRaw(s.Server, "delete", "--force", n.Trim());
        }
    }

    /// <summary>Mean PSS of the processes that parent each container's init (hyperlxd-monitor; LXD's `[lxc monitor]`).</summary>
    private static async Task<double?> MonitorPssAsync(Side s, int running)
    {
        var (rc, csv) = await LxcRaw(s.Server, "list", "-c", "np", "--format", "csv");
        if (rc != 0)
        {
            return null;
        }
        var pss = new List<long>();
        foreach (var line in csv.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var cols = line.Split(',');
            if (cols.Length < 2 || !int.TryParse(cols[1], out var pid))
            {
                continue;
            }
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var ppid = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
                var pssLine = File.ReadLines($"/proc/{ppid}/smaps_rollup").First(l => l.StartsWith("Pss:", StringComparison.Ordinal));
                pss.Add(long.Parse(pssLine.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture));
            }
            catch (Exception e) when (e is IOException or FormatException or InvalidOperationException)
            {
            }
        }
        return pss.Count == running ? pss.Average() : pss.Count > 0 ? pss.Average() : null;
    }

    private static long MemAvailableKiB() =>
        long.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

    private static async Task<double> Timed(Side s, params string[] args)
    {
        var t0 = Stopwatch.GetTimestamp();
        var (rc, _) = await LxcRaw(s.Server, args);
        var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        if (rc != 0)
        {
            s.Failures++;
            Console.Error.WriteLine($"bench: {s.Server.Name}: lxc {string.Join(' ', args)} exited {rc}");
        }
        return ms;
    }

    private static async Task Lxc(Side s, params string[] args)
    {
        var (rc, output) = await LxcRaw(s.Server, args);
        if (rc != 0)
        {
            throw new BenchException($"{s.Server.Name}: lxc {string.Join(' ', args)} exited {rc}: {output.Trim()}");
        }
    }

    private static async Task<(int Rc, string Output)> LxcRaw(Server server, params string[] args)
    {
        var (code, stdout, stderr) = await BenchProcess.RunAsync("lxc", args,
            new Dictionary<string, string> { ["LXD_DIR"] = server.Dir, ["LXD_CONF"] = server.LxcConf });
        return (code, stdout + stderr);
    }

    private static async Task Must(string program, string[] args, Dictionary<string, string> env, string? stdin, string what)
    {
        var (code, stdout, stderr) = await BenchProcess.RunAsync(program, args, env, stdin);
        if (code != 0)
        {
            throw new BenchException($"{what} exited {code}: {stderr.Trim()} {stdout.Trim()}");
        }
    }

    private static void Print(Side h, Side? l, int running, string lxdAbsent)
    {
        var na = "n/a: " + lxdAbsent;
        var rows = new List<string[]>
        {
            new[] { "operation", "Hyperlxd", "LXD", "ratio Hyperlxd/LXD" },
            Ms("`lxc launch busybox` (median)", h.Launch, l?.Launch),
            Ms("`lxc exec -- true` (median)", h.Exec, l?.Exec),
            Ms("`lxc file push` 64 KiB, running (median)", h.FilePush, l?.FilePush),
            Ms("`lxc file pull` 64 KiB, running (median)", h.FilePull, l?.FilePull),
            Ms("`lxc stop --force` (median)", h.StopForce, l?.StopForce),
            Ms("API create (median)", h.Api.Create, l?.Api.Create),
            Ms("API start (median)", h.Api.Start, l?.Api.Start),
            Ms("API create + start: daemon's own share (<= 50 ms)", h.Api.CreateStart, l?.Api.CreateStart),
            Ms("API exec `true` with websockets: daemon's own share (<= 10 ms)", h.Api.Exec, l?.Api.Exec),
            Ms($"`lxc list` with {running} running (median)", h.List, l?.List),
            Kb("daemon RSS idle (VmRSS)", h.RssIdleKiB, l?.RssIdleKiB),
            Kb($"daemon RSS with {running} running", h.RssLoadedKiB, l?.RssLoadedKiB),
            Kb("monitor PSS per running container", h.MonitorPssKiB, l?.MonitorPssKiB),
            Kb("host MemAvailable drop per container", h.MemAvailableDropKiB, l?.MemAvailableDropKiB),
        };
        var widths = Enumerable.Range(0, 4).Select(c => rows.Max(r => r[c].Length)).ToArray();
        Console.WriteLine();
        for (var i = 0; i < rows.Count; i++)
        {
            Console.WriteLine(string.Join(" | ", rows[i].Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
            if (i == 0)
            {
                Console.WriteLine(string.Join("-|-", widths.Select(w => new string('-', w))));
            }
        }
        Console.WriteLine($"failures: Hyperlxd {h.Failures}, LXD {(l is null ? "n/a" : l.Failures.ToString(CultureInfo.InvariantCulture))}. Wall-clock medians of the lxc process on a shared machine: compare ratios.");

        string[] Ms(string op, List<double> a, List<double>? b)
        {
            var am = Stats.Median(a);
            var bm = b is null ? (double?)null : Stats.Median(b);
            return new[] { op, F(am) + " ms", bm is { } x ? F(x) + " ms" : na, bm is > 0 ? (am / bm.Value).ToString("0.00", CultureInfo.InvariantCulture) : "n/a" };
        }

        string[] Kb(string op, double? a, double? b) => new[]
        {
            op,
            a is { } x ? Mb(x) : "n/a",
            l is null ? na : b is { } y ? Mb(y) : "n/a",
            a is { } p && b is { } q && q > 0 ? (p / q).ToString("0.00", CultureInfo.InvariantCulture) : "n/a",
        };
    }

    private static string F(double v) => v.ToString("0.0", CultureInfo.InvariantCulture);

    private static string Mb(double kib) => (kib / 1024.0).ToString("0.00", CultureInfo.InvariantCulture) + " MB";

}
