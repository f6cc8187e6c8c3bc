namespace Hyperlxd.Storage.Drivers;

/// <summary>Backends LXD has that Hyperlxd does not run: each is reported with the host's reason, never half-supported.</summary>
internal static class Unavailable
{
    public static DriverStatus Lvm() =>
        new("lvm", false, "", false,
            !File.Exists("/dev/mapper/control") ? "device-mapper is not available (no /dev/mapper/control in this kernel)"
            : Host.Which("lvm") is null ? "the lvm2 tools are not installed"
            : "the lvm driver is not implemented by this Hyperlxd version");

    public static DriverStatus Zfs() =>
        new("zfs", false, "", false,
            !Directory.Exists("/sys/module/zfs") ? "the zfs kernel module is not loaded"
            : Host.Which("zfs") is null ? "the zfs tools are not installed"
            : "the zfs driver is not implemented by this Hyperlxd version");

    public static DriverStatus Ceph(string name) =>
        new(name, false, "", true,
            Host.Which("ceph") is null ? "the ceph tools are not installed"
            : $"the {name} driver is not implemented by this Hyperlxd version");
}
