using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Text;


namespace Hyperlxd.Bench;

/// <summary>
/// Measures Hyperlxd and LXD side by side in one run. Rounds interleave the two servers so both
/// share the machine's noise; only medians and ratios are reported, nothing is asserted.
/// Options: --rounds N (10), --requests N (GET /1.0 per server, 500), --runs N (lxc runs per server, 30),
/// --imports N (`lxc image import` of the busybox image per server, 10; artifacts/images from `cake --target=Images`);
/// --storage alone runs the instance-volume preparation comparison (--volumes N (10));
/// --instances alone runs the container comparison (--launches N (10), --running N (50)), which the default run also does;
/// --network alone runs the nic comparison (--launches N (10)): `lxc launch` with one nic on lxdbr0 against none, on both servers;
/// --vm alone runs the VM comparison (--boots N (5), --running N (5)): VM create to guest agent answering through the
/// API against a raw qemu-system-x86_64 boot of the same image, `lxc stop --force`, daemon RSS with N VMs running;
/// --copy alone runs the `lxc copy` comparison (--copies N (10)): a stopped busybox container, Hyperlxd dir and btrfs against LXD dir;
/// --publish alone runs `lxc publish` of a stopped busybox container on both servers (--rounds N (5));
/// --soak alone runs the soak (--execs N (10000), --cycles N (1000)): daemon descriptors and RSS before, after and idle.
/// Environment: HYPERLXD_BIN (default: artifacts/bin/hyperlxd of this checkout),
/// BENCH_LXD_DIR (use an already running LXD instead of starting a private one).
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        var rounds = IntOption(args, "--rounds", 10);
        var requests = IntOption(args, "--requests", 500);
        var runs = IntOption(args, "--runs", 30);
        if (args.Contains("--soak"))
        {
            return await SoakBench.RunAsync(IntOption(args, "--execs", 10000), IntOption(args, "--cycles", 1000));
        }
        if (args.Contains("--containers"))
        {
            return await ContainerBench.RunAsync(runs);
        }
        if (args.Contains("--storage"))
        {
            return await StorageBench.RunAsync(IntOption(args, "--volumes", 10));
        }
        if (args.Contains("--network"))
        {
            return await NetworkBench.RunAsync(IntOption(args, "--launches", 10));
        }
        if (args.Contains("--vm"))
        {
            return await VmBench.RunAsync(IntOption(args, "--boots", 5), IntOption(args, "--running", 5));
        }
        if (args.Contains("--copy"))
        {
            return await CopyBench.RunAsync(IntOption(args, "--copies", 10));
        }
        if (args.Contains("--backup"))
        {
            return await BackupBench.RunAsync(IntOption(args, "--rounds", 5));
        }
        if (args.Contains("--publish"))
        {
            return await PublishBench.RunAsync(IntOption(args, "--rounds", 5));
        }
        if (args.Contains("--instances"))
        {
            return await InstanceBench.RunAsync(IntOption(args, "--launches", 10), IntOption(args, "--running", 50));
        }

        var imports = IntOption(args, "--imports", 10);
        var busybox = FindHyperlxdBin() is { } b ? Path.GetFullPath(Path.Combine(Path.GetDirectoryName(b)!, "..", "images", "busybox.tar.gz")) : null;
        if (busybox is null || !File.Exists(busybox))
        {
            Console.Error.WriteLine("bench: artifacts/images/busybox.tar.gz missing (run `dotnet cake --target=Images`): no image import rows");
            busybox = null;
        }

        var hyperlxdBin = Environment.GetEnvironmentVariable("HYPERLXD_BIN") ?? FindHyperlxdBin();
        if (hyperlxdBin is null || !File.Exists(hyperlxdBin))
        {
            Console.Error.WriteLine("bench: hyperlxd binary not found; run `dotnet cake --target=Build` or set HYPERLXD_BIN");
            return 2;
        }

        Console.WriteLine($"bench: {Environment.ProcessorCount} cores, {rounds} rounds, {requests} GET /1.0 and {runs} `lxc profile list` per server");
        await using var servers = new ServerSet();
        try
        {
            var hyperlxd = await servers.StartHyperlxdAsync(hyperlxdBin);
            var lxd = await servers.StartOrAttachLxdAsync();
            await Task.Delay(2000); // let both settle before reading idle RSS
            var hyperlxdRss = hyperlxd.RssKiB();
            var lxdRss = lxd?.RssKiB();

            var targets = new List<Server> { hyperlxd };
            if (lxd is not null)
            {
                targets.Add(lxd);
            }
            foreach (var s in targets)
            {
                await s.WarmUpAsync();
            }

            for (var round = 0; round < rounds; round++)
            {
                // Alternate which server goes first in each round.
                var order = round % 2 == 0 ? targets : Enumerable.Reverse(targets).ToList();
                foreach (var s in order)
                {
                    await s.MeasureGetAsync(Share(requests, rounds, round));
                }
                foreach (var s in order)
                {
                    await s.MeasureLxcAsync(Share(runs, rounds, round));
                }
                if (busybox is not null)
                {
                    // Import then delete (untimed), so every round imports into an empty store.
                    foreach (var s in order)
                    {
                        await s.MeasureImageImportAsync(busybox, Share(imports, rounds, round));
                    }
                }
            }

            PrintTable(hyperlxd, lxd, hyperlxdRss, lxdRss, servers.LxdAbsentReason);
            if (hyperlxd.LxcFailures + (lxd?.LxcFailures ?? 0) > 0)
            {
                return 1;
            }
        }
        catch (BenchException e)
        {
            Console.Error.WriteLine($"bench: {e.Message}");
            return 2;
        }
        // The default run includes storage and the container side (fresh daemons: the API numbers above stay idle-state).
        await StorageBench.RunAsync(IntOption(args, "--volumes", 10));
        return await InstanceBench.RunAsync(IntOption(args, "--launches", 10), IntOption(args, "--running", 50));
    }

    private static int Share(int total, int rounds, int round) => total / rounds + (round < total % rounds ? 1 : 0);

    private static int IntOption(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var v) && v > 0 ? v : fallback;
    }

    /// <summary>The daemon binary (HYPERLXD_BIN or artifacts/bin) and the busybox image next to it; null (and a message) when either is missing.</summary>
    internal static (string Bin, string Image)? FindBinaryAndImage()
    {
        var bin = Environment.GetEnvironmentVariable("HYPERLXD_BIN") ?? FindHyperlxdBin();
        if (bin is null || !File.Exists(bin))
        {
            Console.Error.WriteLine("bench: hyperlxd binary not found; run `dotnet cake --target=Build` or set HYPERLXD_BIN");
            return null;
        }
        var image = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(bin)!)!)!, "artifacts", "images", "busybox.tar.gz");
        if (!File.Exists(image))
        {
            Console.Error.WriteLine($"bench: {image} missing: run `dotnet cake --target=Images`");
            return null;
        }
        return (bin, image);
    }

    internal static string? FindHyperlxdBin()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Hyperlxd.sln")))
            {
                return Path.Combine(dir.FullName, "artifacts", "bin", "hyperlxd");
            }
        }
        return null;
    }

    private static void PrintTable(Server hyperlxd, Server? lxd, long? hyperlxdRss, long? lxdRss, string lxdAbsent)
    {
        var na = $"n/a: {lxdAbsent}";
        var rows = new List<string[]>
        {
            new[] { "operation", "Hyperlxd median", "LXD median", "ratio Hyperlxd/LXD", "target" },
            Row("GET /1.0 (unix socket, warm HttpClient)", hyperlxd.GetMs, lxd?.GetMs, "ratio < 1 (no number in DESIGN.md)"),
            Row("`lxc profile list` (process run)", hyperlxd.LxcMs, lxd?.LxcMs, "ratio < 1 (no number in DESIGN.md)"),
            Row("`lxc image import busybox.tar.gz` (1 MB, process run)", hyperlxd.ImportMs, lxd?.ImportMs, "ratio < 1 (no number in DESIGN.md)"),
            RssRow(),
        };
        var widths = Enumerable.Range(0, 5).Select(c => rows.Max(r => r[c].Length)).ToArray();
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
        Detail("Hyperlxd", hyperlxd);
        if (lxd is not null)
        {
            Detail("LXD", lxd);
        }
        Console.WriteLine("Timings are medians of wall-clock samples on a shared machine; compare the ratio, not the absolute numbers.");

        string[] Row(string op, List<double> h, List<double>? l, string target)
        {
            var hm = Stats.Median(h);
            var lm = l is null ? (double?)null : Stats.Median(l);
            return new[]
            {
                op,
                Ms(hm),
                lm is null ? na : Ms(lm.Value),
                lm is > 0 ? (hm / lm.Value).ToString("0.00", CultureInfo.InvariantCulture) : "n/a",
                target,
            };
        }

        string[] RssRow() => new[]
        {
            "daemon RSS idle (VmRSS)",
            Mb(hyperlxdRss),
            lxd is null ? na : Mb(lxdRss),
            hyperlxdRss is { } h && lxdRss is { } l && l > 0 ? ((double)h / l).ToString("0.00", CultureInfo.InvariantCulture) : "n/a",
            "<= 60 MB (LXD 58-85 MB)",
        };
    }

    private static void Detail(string name, Server s) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: GET /1.0 n={s.GetMs.Count} p10={Stats.Percentile(s.GetMs, 0.1):0.000} p90={Stats.Percentile(s.GetMs, 0.9):0.000} ms; " +
            $"lxc n={s.LxcMs.Count} p10={Stats.Percentile(s.LxcMs, 0.1):0.0} p90={Stats.Percentile(s.LxcMs, 0.9):0.0} ms, failures={s.LxcFailures}; " +
            $"image import n={s.ImportMs.Count} p10={Stats.Percentile(s.ImportMs, 0.1):0.0} p90={Stats.Percentile(s.ImportMs, 0.9):0.0} ms; " +
            $"RSS after run {Mb(s.RssKiB())}"));

    private static string Ms(double v) => v.ToString(v < 10 ? "0.000" : "0.0", CultureInfo.InvariantCulture) + " ms";

    private static string Mb(long? kib) => kib is { } k ? (k / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " MB" : "n/a";
}

internal sealed class BenchException(string message) : Exception(message);

/// <summary>One server under test: its state dir (holding unix.socket), a warm HTTP client and the samples.</summary>
internal sealed class Server : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _lxcConf;

    public Server(string name, string dir, string lxcConf, string? netns = null)
    {
        Name = name;
        Dir = dir;
        Netns = netns;
        _lxcConf = lxcConf;
        var socketPath = Path.Combine(dir, "unix.socket");
        var handler = Hyperlxd.Api.UnixSocketTransport.CreateHandler(socketPath);
        handler.PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10);
        _http = new HttpClient(handler) { BaseAddress = new Uri("http://unix.socket") };
    }

    public string Name { get; }

    public string Dir { get; }

    /// <summary>The network namespace the server runs in (null: an attached LXD on the host's network).</summary>
    public string? Netns { get; }

    public string LxcConf => _lxcConf;

    public List<double> GetMs { get; } = new();

    public List<double> LxcMs { get; } = new();

    public List<double> ImportMs { get; } = new();

    public int LxcFailures { get; private set; }

    /// <summary>The daemon's pid, read from the socket peer (SO_PEERCRED), so it works for servers we did not start.</summary>
    public int? Pid { get; private set; }

    public async Task WarmUpAsync()
    {
        for (var i = 0; i < 20; i++)
        {
            await GetOnceAsync();
        }
        await RunLxcOnceAsync();
    }

    public async Task MeasureGetAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            await GetOnceAsync();
            GetMs.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
    }

    public async Task MeasureLxcAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            var ok = await RunLxcOnceAsync();
            var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            if (ok)
            {
                LxcMs.Add(ms);
            }
        }
    }

    /// <summary>Times `lxc image import FILE` (upload, validation, commit), then deletes the image untimed.</summary>
    public async Task MeasureImageImportAsync(string image, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            var (ok, stdout) = await RunLxcAsync("image", "import", image);
            var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            var fp = stdout.Trim().Split(' ')[^1];
            if (!ok || fp.Length != 64)
            {
                continue;
            }
            ImportMs.Add(ms);
            await RunLxcAsync("image", "delete", fp);
        }
    }

    private async Task<(bool Ok, string Stdout)> RunLxcAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("lxc") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["LXD_DIR"] = Dir;
        psi.Environment["LXD_CONF"] = _lxcConf;
        using var p = Process.Start(psi) ?? throw new BenchException("cannot start lxc");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
        {
            LxcFailures++;
            Console.Error.WriteLine($"bench: {Name}: lxc {string.Join(' ', args)} exited {p.ExitCode}: {(await stderr).Trim()}");
        }
        return (p.ExitCode == 0, await stdout);
    }

    public long? RssKiB()
    {
        Pid ??= PeerPid(Path.Combine(Dir, "unix.socket"));
        if (Pid is not { } pid)
        {
            return null;
        }
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

    public void Dispose() => _http.Dispose();

    private async Task GetOnceAsync()
    {
        using var response = await _http.GetAsync(new Uri("/1.0", UriKind.Relative));
        var body = await response.Content.ReadAsByteArrayAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new BenchException($"{Name}: GET /1.0 returned {(int)response.StatusCode}: {Encoding.UTF8.GetString(body)}");
        }
    }

    private async Task<bool> RunLxcOnceAsync()
    {
        var psi = new ProcessStartInfo("lxc")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.ArgumentList.Add("profile");
        psi.ArgumentList.Add("list");
        psi.Environment["LXD_DIR"] = Dir;
        psi.Environment["LXD_CONF"] = _lxcConf;
        using var p = Process.Start(psi) ?? throw new BenchException("cannot start lxc");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        await stdout;
        if (p.ExitCode != 0)
        {
            LxcFailures++;
            Console.Error.WriteLine($"bench: {Name}: lxc profile list exited {p.ExitCode}: {(await stderr).Trim()}");
            return false;
        }
        return true;
    }

    private static int? PeerPid(string socketPath)
    {
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            Span<byte> ucred = stackalloc byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
            const int SolSocket = 1, SoPeercred = 17;
            return socket.GetRawSocketOption(SolSocket, SoPeercred, ucred) == 12 ? BitConverter.ToInt32(ucred[..4]) : null;
        }
        catch (SocketException)
        {
            return null;
        }
    }
}

/// <summary>Starts (and always stops) the daemons of the run; owns their temporary directories.</summary>
/// <summary>
/// The servers of a run, each started in a network namespace of its own (<c>hlxb-…</c>): their
/// bridges, DHCP and container traffic stay there (no packet of a bench may leave loopback or
/// namespaces it made). Disposal stops them, kills what is left in their namespaces (dnsmasq,
/// forwarders) and deletes the namespaces.
/// </summary>
internal sealed class ServerSet : IAsyncDisposable
{
    private readonly List<(Process Process, string Name, Func<Task> Stop)> _started = new();
    private readonly List<string> _tempDirs = new();
    private readonly List<Server> _servers = new();
    private readonly List<string> _netns = new();

    public string LxdAbsentReason { get; private set; } = "LXD not installed";

    public async Task<Server> StartHyperlxdAsync(string bin)
    {
        var dir = TempDir("hyperlxd-bench-");
        var netns = await NewNetnsAsync();
        Console.WriteLine($"bench: starting {bin} daemon with HYPERLXD_DIR={dir} in network namespace {netns}");
        var env = new Dictionary<string, string> { ["HYPERLXD_DIR"] = dir };
        var process = StartLogged("nsenter", [$"--net=/run/netns/{netns}", "--", bin, "daemon"], env, Path.Combine(dir, "hyperlxd.log"));
        _started.Add((process, "hyperlxd", () => TerminateAsync(process, "hyperlxd")));
        await RunToEndAsync(bin, new[] { "waitready", "--timeout", "120" }, env, "hyperlxd waitready", dir);
        return Add(new Server("Hyperlxd", dir, TempDir("hyperlxd-bench-lxc-conf-"), netns));
    }

    private async Task<string> NewNetnsAsync()
    {
        var name = "hlxb-" + Guid.NewGuid().ToString("N")[..10];
        await RunToEndAsync("ip", ["netns", "add", name], new(), "ip netns add", "/tmp");
        _netns.Add(name);
        await RunToEndAsync("ip", ["-n", name, "link", "set", "lo", "up"], new(), "ip link set lo up", "/tmp");
        return name;
    }

    private static async Task RemoveNetnsAsync(string name)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var (_, pids, _) = await BenchProcess.RunAsync("ip", ["netns", "pids", name]);
            var left = pids.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (left.Length == 0)
            {
                break;
            }
            foreach (var pid in left)
            {
                using var kill = Process.Start("kill", ["-KILL", pid.Trim()]);
                await kill.WaitForExitAsync();
            }
            await Task.Delay(100);
        }
        await BenchProcess.RunAsync("ip", ["netns", "delete", name]);
    }

    /// <summary>An LXD to compare with: BENCH_LXD_DIR if set, else a private one when `lxd` is installed, else null.</summary>
    public async Task<Server?> StartOrAttachLxdAsync()
    {
        var conf = TempDir("lxd-bench-lxc-conf-");
        if (Environment.GetEnvironmentVariable("BENCH_LXD_DIR") is { Length: > 0 } given)
        {
            Console.WriteLine($"bench: using the running LXD at BENCH_LXD_DIR={given}");
            return Add(new Server("LXD", given, conf));
        }
        var lxd = FindOnPath("lxd");
        if (lxd is null)
        {
            Console.WriteLine("bench: `lxd` not on PATH: LXD columns are n/a (apt-get install lxd to compare)");
            return null;
        }
        var dir = TempDir("lxd-bench-");
        var netns = await NewNetnsAsync();
        Console.WriteLine($"bench: starting a private LXD ({lxd}) with LXD_DIR={dir} in network namespace {netns}");
        var env = new Dictionary<string, string> { ["LXD_DIR"] = dir };
        // `ip netns exec`, not nsenter: LXD looks its bridge up in /sys/class/net, which shows the netns of
        // whoever mounted sysfs, so it needs the fresh sysfs that `ip netns exec` mounts in a mount namespace
        // of its own (under nsenter it creates lxdbr0 and then reports "Parent device lxdbr0 doesn't exist").
        var args = new List<string> { "netns", "exec", netns, lxd, "--group", GroupExists("lxd") ? "lxd" : "root", "--logfile", Path.Combine(dir, "lxd.log") };
        var process = StartLogged("ip", args, env, Path.Combine(dir, "lxd.stdout.log"));
        _started.Add((process, "lxd", async () =>
        {
            // `lxd shutdown` unmounts what LXD mounted under its dir; SIGTERM is the fallback.
            try
            {
                await RunToEndAsync(lxd, new[] { "shutdown", "--timeout", "60" }, env, "lxd shutdown", dir);
            }
            catch (BenchException e)
            {
                Console.Error.WriteLine($"bench: {e.Message}");
            }
            await TerminateAsync(process, "lxd");
        }));
        try
        {
            await RunToEndAsync(lxd, new[] { "waitready", "--timeout", "60" }, env, "lxd waitready", dir);
        }
        catch (BenchException e)
        {
            LxdAbsentReason = "private LXD did not start";
            Console.Error.WriteLine($"bench: {e.Message}; LXD columns are n/a");
            return null;
        }
        return Add(new Server("LXD", dir, conf, netns));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var s in _servers)
        {
            s.Dispose();
        }
        foreach (var (_, _, stop) in Enumerable.Reverse(_started))
        {
            await stop();
        }
        foreach (var netns in _netns)
        {
            await RemoveNetnsAsync(netns);
        }
        foreach (var dir in _tempDirs)
        {
            UnmountUnder(dir);
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"bench: could not remove {dir}: {e.Message}");
            }
        }
    }

    private Server Add(Server s)
    {
        _servers.Add(s);
        return s;
    }

    private string TempDir(string prefix)
    {
        var dir = Directory.CreateTempSubdirectory(prefix).FullName;
        // The embedded PostgreSQL runs as the unprivileged `hyperlxd` user: it must traverse the state dir.
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
            UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        _tempDirs.Add(dir);
        return dir;
    }

    // The child writes straight to the log file (sh exec), so nothing here has to pump its output.
    private static Process StartLogged(string program, IEnumerable<string> args, Dictionary<string, string> env, string log)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("log=$1; shift; exec \"$@\" >>\"$log\" 2>&1");
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add(log);
        psi.ArgumentList.Add(program);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }
        return Process.Start(psi) ?? throw new BenchException($"cannot start {program}");
    }

    private static async Task RunToEndAsync(string program, IEnumerable<string> args, Dictionary<string, string> env, string what, string dir)
    {
        var (code, stdout, stderr) = await BenchProcess.RunAsync(program, args, env);
        if (code != 0)
        {
            throw new BenchException($"{what} exited {code}: {stderr.Trim()} {stdout.Trim()} (logs in {dir})");
        }
    }

    private static async Task TerminateAsync(Process p, string name)
    {
        if (p.HasExited)
        {
            return;
        }
        using (var kill = Process.Start("kill", new[] { "-TERM", p.Id.ToString(CultureInfo.InvariantCulture) }))
        {
            await kill.WaitForExitAsync();
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await p.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"bench: {name} ignored SIGTERM for 60 s: SIGKILL");
            p.Kill();
            await p.WaitForExitAsync();
        }
        p.Dispose();
    }

    private static void UnmountUnder(string dir)
    {
        var prefix = dir.TrimEnd('/') + "/";
        var mounts = File.ReadAllLines("/proc/self/mounts")
            .Select(l => l.Split(' ')[1].Replace("\\040", " ", StringComparison.Ordinal))
            .Where(m => m.StartsWith(prefix, StringComparison.Ordinal))
            .OrderByDescending(m => m.Length);
        foreach (var m in mounts)
        {
            using var p = Process.Start("umount", new[] { "-l", m });
            p.WaitForExit();
        }
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name))
            .FirstOrDefault(File.Exists);

    private static bool GroupExists(string group) =>
        File.ReadLines("/etc/group").Any(l => l.StartsWith(group + ":", StringComparison.Ordinal));
}
