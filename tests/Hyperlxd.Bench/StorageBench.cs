using System.Diagnostics;
using System.Globalization;
using Hyperlxd.Core.Images;
using Hyperlxd.Core.Instances;
using Hyperlxd.State;
using Hyperlxd.Storage;
using Hyperlxd.Storage.Drivers;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hyperlxd.Bench;

/// <summary>
/// Preparing an instance root volume from a cached image, through the storage tier (DB row,
/// locks, driver), against the raw primitive on the same tree: <c>cp -a --reflink=auto</c> on a
/// dir pool and <c>btrfs subvolume snapshot</c> on a btrfs pool (a loop file). Interleaved rounds,
/// medians and ratios; nothing is asserted.
/// </summary>
internal static class StorageBench
{
    private const string Fingerprint = "5e7c000000000000000000000000000000000000000000000000000000000000";

    /// <summary>A real, sizeable tree present on every Debian machine with python3 (pylxd pulls it in).</summary>
    private static readonly string[] Trees = { "/usr/lib/python3/dist-packages", "/usr/share/perl5", "/usr/lib/x86_64-linux-gnu/perl-base" };

    public static async Task<int> RunAsync(int rounds)
    {
        var tree = Trees.FirstOrDefault(Directory.Exists);
        if (tree is null)
        {
            Console.WriteLine("storage bench: n/a (no source tree found)");
            return 0;
        }
        var files = Directory.EnumerateFileSystemEntries(tree, "*", SearchOption.AllDirectories).Count();
        var dir = Directory.CreateTempSubdirectory("hyperlxd-sbench-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_001_001);
        Console.WriteLine($"storage bench: image tree {tree} ({files} entries), {rounds} rounds");
        var ct = CancellationToken.None;
        await using var store = await StateStore.OpenAsync(dir, null, "hyperlxd", NullLoggerFactory.Instance, ct);
        using var pools = new StoragePools(store, new StoragePaths(dir), NullLogger.Instance, new Lazy<IImageSource>(new TreeImageSource(tree)));
        await pools.LoadAsync(ct);
        var rows = new List<(string Name, List<double> Ours, List<double> Raw, string Primitive)>();
        try
        {
            foreach (var (driver, config, primitive) in new[]
            {
                ("dir", new Dictionary<string, string>(), "cp -a --reflink=auto"),
                ("btrfs", new Dictionary<string, string> { ["size"] = "3GiB" }, "btrfs subvolume snapshot"),
            })
            {
                var pool = await pools.CreateAsync("bench-" + driver, driver, "", config, ct);
                var root = Path.Combine(dir, "storage-pools", "bench-" + driver);
                var image = Path.Combine(root, "images", Fingerprint);
                // The first volume fills the pool's image cache; only cached preparation is measured.
                await pool.CreateInstanceVolumeFromImageAsync("warm", InstanceType.Container, Fingerprint, "", ct);
                await pool.DeleteInstanceVolumeAsync("warm", InstanceType.Container, ct);
                var ours = new List<double>();
                var raw = new List<double>();
                for (var i = 0; i < rounds; i++)
                {
                    var target = Path.Combine(root, "containers", $"raw{i}");
                    async Task Ours()
                    {
                        var sw = Stopwatch.StartNew();
                        await pool.CreateInstanceVolumeFromImageAsync($"c{i}", InstanceType.Container, Fingerprint, "", ct);
                        ours.Add(sw.Elapsed.TotalMilliseconds);
                        // A dir pool refills its spare copy in the background: let it finish untimed, so the raw copy runs alone.
                        await pools.QuiesceAsync();
                    }
                    async Task Raw()
                    {
                        var sw = Stopwatch.StartNew();
                        await (driver == "dir"
                            ? RunAsync("cp", "-a", "--reflink=auto", image, target)
                            : RunAsync("btrfs", "subvolume", "snapshot", image, target));
                        raw.Add(sw.Elapsed.TotalMilliseconds);
                    }
                    // Alternate who goes first, so that both see the same write-back and cache state.
                    if (i % 2 == 0)
                    {
                        await Ours();
                        await Raw();
                    }
                    else
                    {
                        await Raw();
                        await Ours();
                    }

                    await pool.DeleteInstanceVolumeAsync($"c{i}", InstanceType.Container, ct);
                    if (driver == "dir")
                    {
                        await RunAsync("rm", "-rf", target);
                    }
                    else
                    {
                        await RunAsync("btrfs", "subvolume", "delete", target);
                    }
                }
                rows.Add(($"instance volume from cached image ({(driver == "dir" ? "dir, spare copy ready" : driver)})", ours, raw, primitive));
                await pools.EvictAsync(Fingerprint, ct);
                await pools.DeleteAsync(pool, ct);
            }
        }
        finally
        {
            foreach (var p in new[] { "bench-dir", "bench-btrfs" })
            {
                try
                {
                    await pools.DeleteAsync(pools.Get(p), ct);
                }
                catch (Exception e) when (e is Core.HyperlxdException or IOException or InvalidOperationException)
                {
                }
            }
        }
        await store.DisposeAsync();
        Directory.Delete(dir, true);

        Console.WriteLine();
        Console.WriteLine($"{"operation",-46} | {"Hyperlxd median",15} | {"raw primitive median",20} | {"ratio",6} | target");
        Console.WriteLine(new string('-', 46) + "-|-" + new string('-', 15) + "-|-" + new string('-', 20) + "-|-" + new string('-', 6) + "-|-------");
        foreach (var (name, ours, raw, primitive) in rows)
        {
            var (a, b) = (Stats.Median(ours), Stats.Median(raw));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-46} | {a,12:0.0} ms | {b,9:0.0} ms {primitive,-9} | {a / b,6:0.00} | <= 1.3x raw"));
        }
        return 0;
    }


    private static async Task RunAsync(string program, params string[] args)
    {
        var (code, _, stderr) = await BenchProcess.RunAsync(program, args);
        if (code != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)}: {stderr}");
        }
    }

    /// <summary>The image store is not what this measures: a host tree stands in for an unpacked image.</summary>
    private sealed class TreeImageSource(string tree) : IImageSource
    {
        public async Task UnpackAsync(string fingerprint, string targetDir, CancellationToken ct)
        {
            await File.WriteAllTextAsync(Path.Combine(targetDir, "metadata.yaml"), "architecture: x86_64\ncreation_date: 0\n", ct);
            await RunAsync("cp", "-a", tree, Path.Combine(targetDir, "rootfs"));
        }
    }
}
