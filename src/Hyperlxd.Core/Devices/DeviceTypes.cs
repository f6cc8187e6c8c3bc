using Hyperlxd.Core.Config;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Core.Devices;

/// <summary>
/// The one place device types are named (LXD's device documentation): profiles and instances validate
/// through here, and the manager finds each device's lifecycle here.
/// </summary>
public static class DeviceTypes
{
    private static readonly Dictionary<string, Device> Types = new Device[]
    {
        new NoneDevice(),
        new DiskDevice(),
        new NicDevice(),
        new ProxyDevice(),
        new UnixDevice("unix-char"),
        new UnixDevice("unix-block"),
        new PlannedDevice("unix-hotplug", new[] { "vendorid", "productid", "uid", "gid", "mode", "required" }),
        new PlannedDevice("tpm", new[] { "path", "pathrm" }),
        new PlannedDevice("gpu", new[] { "gputype", "vendorid", "productid", "id", "pci", "uid", "gid", "mode", "mdev", "mig.ci", "mig.gi", "mig.uuid" }),
        new PlannedDevice("usb", new[] { "vendorid", "productid", "busnum", "devnum", "uid", "gid", "mode", "required" }),
        new PlannedDevice("infiniband", new[] { "nictype", "name", "hwaddr", "mtu", "parent" }),
        new PlannedDevice("pci", new[] { "address" }),
    }.ToDictionary(d => d.Type);

    /// <summary>The device type of a validated device.</summary>
    public static Device Of(IReadOnlyDictionary<string, string> device) =>
        Types.TryGetValue(device.GetValueOrDefault("type", ""), out var type) ? type : throw new BadRequestException($"Unknown device type \"{device.GetValueOrDefault("type", "")}\"");

    /// <summary>The kernel's dev_valid_name: 1 to 15 bytes (IFNAMSIZ - 1), not "." or "..", no '/', ':' or whitespace.</summary>
    public static bool IsInterfaceName(string name) =>
        name.Length is > 0 and < 16 && System.Text.Encoding.UTF8.GetByteCount(name) < 16 && name is not "." and not ".."
        && !name.Any(c => c is '/' or ':' || char.IsWhiteSpace(c) || char.IsControl(c));

    /// <summary>
    /// Validates a device map: of an instance (<paramref name="instanceType"/> given: keys of the other
    /// instance type are refused) or of a profile (null: either type). A type that is not implemented yet
    /// is refused after its keys are checked. Throws <see cref="BadRequestException"/> naming the device.
    /// </summary>
    public static void Validate(IReadOnlyDictionary<string, Dictionary<string, string>> devices, InstanceType? instanceType = null)
    {
        foreach (var (name, device) in devices)
        {
            if (string.IsNullOrEmpty(name) || name.Contains('/') || name.Any(char.IsWhiteSpace) || Validators.HasControl(name))
            {
                throw new BadRequestException($"Invalid device name \"{Validators.Printable(name)}\"");
            }
            foreach (var (key, value) in device ?? [])
            {
                if (Validators.KeyValueProblem(key, value) is { } kvProblem)
                {
                    throw new BadRequestException($"Device \"{name}\": invalid key \"{Validators.Printable(key)}\": {kvProblem}");
                }
            }
            if (device is null || !device.TryGetValue("type", out var type) || type.Length == 0)
            {
                throw new BadRequestException($"Device \"{name}\": missing \"type\"");
            }
            if (!Types.TryGetValue(type, out var kind))
            {
                throw new BadRequestException($"Device \"{name}\": unknown device type \"{type}\"");
            }
            kind.Validate(name, device, instanceType);
            if (!kind.Implemented)
            {
                throw new BadRequestException($"Device \"{name}\": type \"{type}\" is not supported yet");
            }
        }
        // LXD's nicCheckNamesUnique: two nics cannot both be eth0 inside the instance.
        if (devices.Where(d => d.Value?.GetValueOrDefault("type") == "nic" && d.Value.GetValueOrDefault("name") is { Length: > 0 })
                .GroupBy(d => d.Value["name"]).FirstOrDefault(g => g.Count() > 1) is { } dup)
        {
            throw new BadRequestException($"Device \"{dup.OrderBy(d => d.Key, StringComparer.Ordinal).Last().Key}\": Duplicate NIC name detected \"{dup.Key}\"");
        }
    }
}
