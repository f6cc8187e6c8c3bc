using System.Diagnostics;
using System.Globalization;
using Hyperlxd.Containers;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Bench;

/// <summary>
/// `--containers`: the container driver against its raw primitives, interleaved in one run:
/// create+start and stop --force (driver vs hyperlxd-monitor start / request stop SIGKILL), exec `true`
/// (driver vs hyperlxd-nsexec attach), and the monitor's PSS.
/// </summary>
internal static class ContainerBench
{
    public static async Task<int> RunAsync(int runs)
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Hyperlxd.sln")))
        {
            root = Path.GetDirectoryName(root)!;
        }
        var bin = Path.Combine(root, "artifacts", "bin");
        var dir = Directory.CreateTempSubdirectory("hlx-bench-ct-").FullName;
        try
        {
            var rootfs = Path.Combine(dir, "root", "rootfs");
            foreach (var d in new[] { "bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root" })
            {
                Directory.CreateDirectory(Path.Combine(rootfs, d));
            }
            File.Copy("/bin/busybox", Path.Combine(rootfs, "bin", "busybox"));
            File.CreateSymbolicLink(Path.Combine(rootfs, "bin", "true"), "busybox");
            File.CreateSymbolicLink(Path.Combine(rootfs, "sbin", "init"), "../bin/busybox");
            File.WriteAllText(Path.Combine(rootfs, "etc", "inittab"), "");
            var driver = new ContainerDriver(new ContainerDriverOptions { HelpersDir = bin, RuntimeDir = Path.Combine(dir, "run") });
            var spec = new InstanceSpec("hlx-bench", InstanceType.Container, "x86_64", new Dictionary<string, string>(),
                new Dictionary<string, Dictionary<string, string>>(), Path.Combine(dir, "root"), Path.Combine(dir, "state"));
            var keys = await driver.PrepareAsync(spec, default);
            spec = spec with { Config = new Dictionary<string, string>(keys) };
            var exec = new ExecOptions(new[] { "true" }, new Dictionary<string, string>(), false, 0, 0, 0, 0, "/");

            var (dStart, rStart, dStop, rStop, dExec, rExec) = (new List<double>(), new List<double>(), new List<double>(), new List<double>(), new List<double>(), new List<double>());
            long pss = 0;
            for (var i = 0; i < runs; i++)
            {
                var sw = Stopwatch.StartNew();
                await driver.StartAsync(spec, default);
                dStart.Add(sw.Elapsed.TotalMilliseconds);
                var pid = (await driver.GetStateAsync(spec, default)).Pid;
                sw.Restart();
                await using (var s = await driver.ExecAsync(spec, exec, default))
                {
                    s.Stdin!.Close();
                    await s.WaitAsync(default);
                }
                dExec.Add(sw.Elapsed.TotalMilliseconds);
                sw.Restart();
                await Run(Path.Combine(bin, "hyperlxd-nsexec"), "attach", "--pid", pid.ToString(CultureInfo.InvariantCulture), "--", "true");
                rExec.Add(sw.Elapsed.TotalMilliseconds);
                pss = Pss(driver, spec);
                sw.Restart();
                await driver.StopAsync(spec, true, TimeSpan.Zero, default);
                dStop.Add(sw.Elapsed.TotalMilliseconds);

                // Raw: the same spec the driver wrote, straight to the monitor.
                var sock = Path.Combine(dir, "raw.sock");
                var cg = "/sys/fs/cgroup/memory/hyperlxd/hlx-bench-raw";
                var specFile = Path.Combine(dir, "raw.spec");
                File.WriteAllLines(specFile, File.ReadAllLines(Path.Combine(spec.StateDir, "container.spec"))
                    .Where(l => !l.StartsWith("cgroup ", StringComparison.Ordinal)).Append("cgroup " + cg));
                sw.Restart();
                await Run(Path.Combine(bin, "hyperlxd-monitor"), "start", "--name", "raw", "--spec", specFile, "--socket", sock);
                rStart.Add(sw.Elapsed.TotalMilliseconds);
                sw.Restart();
                await Run(Path.Combine(bin, "hyperlxd-monitor"), "request", "--socket", sock, "stop", "SIGKILL");
                rStop.Add(sw.Elapsed.TotalMilliseconds);
                for (var t = 0; t < 100 && Directory.Exists(cg); t++)
                {
                    try { Directory.Delete(cg); } catch (IOException) { await Task.Delay(10); }
                }
            }
            Console.WriteLine($"containers ({runs} interleaved runs)      driver     raw    ratio");
            Line("create+start", dStart, rStart);
            Line("exec true", dExec, rExec);
            Line("stop --force", dStop, rStop);
            Console.WriteLine($"monitor PSS: {pss} kB");
            return 0;
        }
        finally
        {
            await new ContainerDriver(new ContainerDriverOptions { HelpersDir = bin, RuntimeDir = Path.Combine(dir, "run") })
                .ReconcileAsync(Array.Empty<InstanceSpec>(), default);
            Directory.Delete(dir, true);
        }
    }

    private static long Pss(ContainerDriver driver, InstanceSpec spec)
    {
        var state = File.ReadAllText(Path.Combine(Path.GetDirectoryName(spec.RootPath)!, "run", spec.Name + ".state"));
        var mpid = state.Trim().Split(' ').First(f => f.StartsWith("monitor_pid=", StringComparison.Ordinal))[12..];
        var line = File.ReadLines($"/proc/{mpid}/smaps_rollup").First(l => l.StartsWith("Pss:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }

    private static void Line(string what, List<double> d, List<double> r)
    {
        Console.WriteLine($"{what,-36} {Stats.Median(d),7:0.00} {Stats.Median(r),7:0.00}  {Stats.Median(d) / Stats.Median(r),6:0.00}x");
    }

    private static Task Run(string file, params string[] args) => BenchProcess.RunAsync(file, args);
}
