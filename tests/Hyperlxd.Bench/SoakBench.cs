using System.Diagnostics;
using System.Globalization;

namespace Hyperlxd.Bench;

/// <summary>
/// Soak (issue 9): many execs, then many create/start/stop/delete cycles against one daemon, through
/// the REST and websocket calls `lxc` makes (<see cref="ApiShare"/>). Reports the daemon's open
/// descriptors and RSS at the start, at the end and after 60 idle seconds; neither should grow with
/// the number of operations. Bounded: it stops after the counts given (--execs N (10000), --cycles N (1000)).
/// Exit 1 when an operation failed or the daemon ended with more than 32 descriptors over its start.
/// </summary>
internal static class SoakBench
{
    private const string Alias = "soak-busybox";

    private sealed record Sample(int Fds, long RssKiB);

    public static async Task<int> RunAsync(int execs, int cycles)
    {
        if (Program.FindBinaryAndImage() is not { } found)
        {
            return 2;
        }
        var (bin, image) = found;
        Console.WriteLine($"bench --soak: {execs} execs, then {cycles} create/start/stop/delete cycles, one daemon");
        await using var servers = new ServerSet();
        var failures = 0;
        Server? daemon = null;
        try
        {
            var h = daemon = await servers.StartHyperlxdAsync(bin);
            var env = new Dictionary<string, string> { ["HYPERLXD_DIR"] = h.Dir };
            await Must(bin, ["init", "--auto"], env, "hyperlxd init --auto");
            await Must("lxc", ["image", "import", image, "--alias", Alias], new() { ["LXD_DIR"] = h.Dir, ["LXD_CONF"] = h.LxcConf }, "lxc image import");
            using var api = new ApiShare(Path.Combine(h.Dir, "unix.socket"));
            await api.LaunchAsync(Alias, "soak");
            for (var i = 0; i < 20; i++)
            {
                await api.ExecTrueAsync("soak"); // warm: the client's code paths, the daemon's pools
            }
            await Task.Delay(2000);
            var start = Take(h);
            Console.WriteLine($"start: {Show(start)}");

            var clock = Stopwatch.StartNew();
            for (var i = 1; i <= execs; i++)
            {
                if (await api.ExecTrueAsync("soak") != 0)
                {
                    failures++;
                }
                if (i % 1000 == 0)
                {
                    Console.WriteLine($"  {i} execs ({clock.Elapsed.TotalSeconds:F0} s): {Show(Take(h))}, {failures} failed");
                }
            }
            clock.Restart();
            for (var i = 1; i <= cycles; i++)
            {
                try
                {
                    await api.CycleAsync(Alias, $"soak-c{i}");
                }
                catch (BenchException e)
                {
                    failures++;
                    Console.Error.WriteLine($"bench: cycle {i}: {e.Message}");
                }
                if (i % 100 == 0)
                {
                    Console.WriteLine($"  {i} cycles ({clock.Elapsed.TotalSeconds:F0} s): {Show(Take(h))}, {failures} failed");
                }
            }
            var end = Take(h);
            Console.WriteLine($"end: {Show(end)}; idling 60 s");
            await Task.Delay(TimeSpan.FromSeconds(60));
            var idle = Take(h);
            await api.CycleAsync(Alias, "soak-last"); // still answers
            // Containers outlive their daemon: the soak's own goes before the daemon is stopped.
            await Must("lxc", ["delete", "--force", "soak"], new() { ["LXD_DIR"] = h.Dir, ["LXD_CONF"] = h.LxcConf }, "lxc delete soak");
            Console.WriteLine();
            Console.WriteLine("| daemon | descriptors | RSS |");
            Console.WriteLine("|---|---|---|");
            Console.WriteLine($"| start | {start.Fds} | {Mb(start.RssKiB)} |");
            Console.WriteLine($"| after {execs} execs + {cycles} cycles | {end.Fds} | {Mb(end.RssKiB)} |");
            Console.WriteLine($"| after 60 s idle | {idle.Fds} | {Mb(idle.RssKiB)} |");
            Console.WriteLine($"failed operations: {failures}");
            return failures > 0 || idle.Fds > start.Fds + 32 ? 1 : 0;
        }
        catch (Exception e) when (e is BenchException or HttpRequestException or System.Net.WebSockets.WebSocketException or IOException or System.Text.Json.JsonException)
        {
            Console.Error.WriteLine($"bench: {e.Message}");
            if (daemon is { } h)
            {
                await BenchProcess.RunAsync("lxc", ["delete", "--force", "soak"], new Dictionary<string, string> { ["LXD_DIR"] = h.Dir, ["LXD_CONF"] = h.LxcConf });
            }
            return 2;
        }
    }

    private static Sample Take(Server h)
    {
        var rss = h.RssKiB() ?? 0;
        var fds = h.Pid is { } pid ? Directory.GetFiles($"/proc/{pid}/fd").Length : -1;
        return new Sample(fds, rss);
    }

    private static string Show(Sample s) => $"{s.Fds} fds, RSS {Mb(s.RssKiB)}";

    private static string Mb(long kib) => (kib / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " MB";

    private static async Task Must(string program, string[] args, Dictionary<string, string> env, string what)
    {
        var (code, stdout, stderr) = await BenchProcess.RunAsync(program, args, env);
        if (code != 0)
        {
            throw new BenchException($"{what} exited {code}: {stderr.Trim()} {stdout.Trim()}");
        }
    }
}
