using System.Globalization;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Snapshots;
using Hyperlxd.State.Repositories;
using Hyperlxd.Storage.Drivers;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Storage;

/// <summary>
/// The upper tier over one backend (LXD's storage/backend_lxd): DB records, per-volume locks, the
/// image cache and revert. Behaviour follows the driver's <see cref="DriverInfo"/> flags only.
/// </summary>
public sealed partial class StoragePool
{
    private readonly StorageRepository _repo;
    private readonly KeyedLock _locks = new();
    private readonly SpareVolumes? _spares;
    private readonly ILogger _logger;

    internal StoragePool(PoolRecord record, IStorageDriver driver, StorageRepository repo, ILogger logger)
    {
        Record = record;
        Driver = driver;
        _repo = repo;
        _logger = logger;
        // Where an instance volume is a full copy of the image, keep the next copy ready.
        _spares = driver.Info.OptimizedImages ? null : new SpareVolumes(driver, logger);
    }

    public PoolRecord Record { get; internal set; }
    public IStorageDriver Driver { get; }
    public string Name => Record.Name;
    public DriverInfo Info => Driver.Info;

    internal static string TypeName(VolumeType t) => t switch
    {
        VolumeType.Custom => "custom",
        VolumeType.Container => "container",
        VolumeType.VirtualMachine => "virtual-machine",
        _ => "image",
    };

    public static VolumeType ParseType(string type) => type switch
    {
        "custom" => VolumeType.Custom,
        "container" => VolumeType.Container,
        "virtual-machine" => VolumeType.VirtualMachine,
        "image" => VolumeType.Image,
        _ => throw new BadRequestException($"Invalid storage volume type \"{type}\""),
    };

    /// <summary>A volume config without the server's <c>volatile.*</c> keys (which no request sets).</summary>
    public static Dictionary<string, string> WithoutVolatile(IReadOnlyDictionary<string, string> config) =>
        config.Where(kv => !kv.Key.StartsWith("volatile.", StringComparison.Ordinal)).ToDictionary();

    /// <summary>Volume keys the tier itself knows; the rest are the driver's. A VM volume's <c>size</c> is its disk's (every driver).</summary>
    public void ValidateVolumeConfig(IReadOnlyDictionary<string, string> config, VolumeType type = VolumeType.Custom)
    {
        foreach (var (key, value) in config)
        {
            if (key.StartsWith("user.", StringComparison.Ordinal))
            {
                continue;
            }
            if (key.StartsWith("snapshots.", StringComparison.Ordinal))
            {
                ValidateSnapshotKey(key, value);
                continue;
            }
            if (key != "size")
            {
                throw new BadRequestException($"Invalid storage volume configuration key \"{key}\"");
            }
            if (value.Length > 0 && Validators.Size(value) is { } err)
            {
                throw new BadRequestException($"Invalid value for storage volume key \"size\": {err}");
            }
            if (value.Length > 0 && !Info.Quotas && type != VolumeType.VirtualMachine)
            {
                throw new BadRequestException($"Invalid storage volume key \"size\": quotas are not supported by the {Info.Name} driver");
            }
        }
        Driver.ValidateVolumeConfig(config);
    }

    /// <summary>A custom volume's snapshot keys (LXD's poolAndVolumeCommonRules); an empty value unsets the key.</summary>
    private static void ValidateSnapshotKey(string key, string value)
    {
        var problem = key switch
        {
            "snapshots.expiry" => SnapshotExpiry.Problem(value),
            "snapshots.schedule" => value.Length == 0 ? null : SnapshotSchedule.Problem(value, SnapshotSchedule.VolumeAliases),
            "snapshots.pattern" => null,
            _ => throw new BadRequestException($"Invalid storage volume configuration key \"{key}\""),
        };
        if (problem is not null)
        {
            throw new BadRequestException($"Invalid value for storage volume key \"{key}\": {problem}");
        }
    }

    /// <summary>Space and inodes of the pool's filesystem (statvfs through <c>stat -f</c>).</summary>
    public async Task<(ulong SpaceTotal, ulong SpaceUsed, ulong InodesTotal, ulong InodesUsed)> ResourcesAsync()
    {
        // %S block size, %b blocks, %f free blocks, %c inodes, %d free inodes
        var f = (await Host.RunAsync("stat", "-f", "-c", "%S %b %f %c %d", Driver.Pool.MountPath)).Trim().Split(' ').Select(s => ulong.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        return (f[0] * f[1], f[0] * (f[1] - f[2]), f[3], f[3] - f[4]);
    }
}
