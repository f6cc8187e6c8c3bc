using Hyperlxd.Core;

namespace Hyperlxd.Storage.Drivers;

/// <summary>The one place storage drivers are named: what exists, whether it runs here, and how to bind one to a pool.</summary>
public static class DriverRegistry
{
    private static readonly Lazy<IReadOnlyList<DriverStatus>> Cached = new(ProbeAll);

    /// <summary>Every known driver with its availability on this host (probed once per process).</summary>
    public static IReadOnlyList<DriverStatus> Probe() => Cached.Value;

    public static IEnumerable<DriverStatus> Available => Probe().Where(d => d.Available);

    private static IReadOnlyList<DriverStatus> ProbeAll() => new[]
    {
        new DriverStatus("dir", true, DirDriver.Description.Version, false, ""),
        ProbeBtrfs(),
        Unavailable.Lvm(),
        Unavailable.Zfs(),
        Unavailable.Ceph("ceph"),
        Unavailable.Ceph("cephfs"),
    };

    private static DriverStatus ProbeBtrfs()
    {
        if (Host.Which("mkfs.btrfs") is null || Host.Which("btrfs") is null)
        {
            return new("btrfs", false, "", false, "btrfs-progs is not installed (mkfs.btrfs, btrfs)");
        }
        if (!File.ReadAllText("/proc/filesystems").Contains("\tbtrfs") && !Directory.Exists("/sys/module/btrfs"))
        {
            // The first mount may still load the module; report it only if the kernel has no module either.
            var kernel = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
            if (!Directory.Exists($"/lib/modules/{kernel}/kernel/fs/btrfs"))
            {
                return new("btrfs", false, "", false, "the kernel has no btrfs support");
            }
        }
        var version = "";
        try
        {
            // "btrfs-progs v6.2"
            version = Host.RunAsync("btrfs", "--version").GetAwaiter().GetResult().Split('\n')[0].Trim().Split(' ').Last().TrimStart('v');
        }
        catch (HostCommandException)
        {
        }
        return new("btrfs", true, version, false, "");
    }

    /// <summary>Binds driver <paramref name="name"/> to a pool; unknown or unavailable drivers are a 400 with the reason.</summary>
    public static IStorageDriver Create(string? name, PoolSpec pool)
    {
        var status = Probe().FirstOrDefault(d => d.Name == name)
            ?? throw new BadRequestException(string.IsNullOrEmpty(name) ? "No driver provided" : $"Unknown storage pool driver \"{name}\"");
        if (!status.Available)
        {
            throw new BadRequestException($"Storage pool driver \"{name}\" is not available on this host: {status.Reason}");
        }
        return name switch
        {
            "dir" => new DirDriver(pool),
            "btrfs" => new BtrfsDriver(pool, status.Version),
            _ => throw new BadRequestException($"Unknown storage pool driver \"{name}\""),
        };
    }
}
