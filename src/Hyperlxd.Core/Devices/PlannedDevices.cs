using Hyperlxd.Core.Config;

namespace Hyperlxd.Core.Devices;

/// <summary>
/// A device type LXD has and Hyperlxd does not implement yet: its keys are checked as LXD checks them
/// (so a bad key is named first), then the device is refused with a 400 naming it and its type.
/// </summary>
public class PlannedDevice(string type, IEnumerable<string> keys, params string[] required) : Device(type, keys, required)
{
    public override bool Implemented => false;
}

/// <summary>LXD's <c>nic</c>: a managed <c>network</c> or an explicit <c>nictype</c>.</summary>
public sealed class NicDevice() : PlannedDevice("nic", KeyList)
{
    private static readonly string[] KeyList =
    {
        "nictype", "network", "parent", "name", "hwaddr", "mtu", "host_name", "vlan", "ipv4.address", "ipv6.address", "ipv4.routes", "ipv6.routes",
        "security.mac_filtering", "security.ipv4_filtering", "security.ipv6_filtering", "limits.ingress", "limits.egress", "limits.max", "boot.priority", "queue.tx.length",
    };

    private static readonly string[] NicTypes = { "bridged", "macvlan", "p2p", "physical", "sriov", "ipvlan", "routed" };

    /// <summary>A nic's host-side and instance-side interface names.</summary>
    private static readonly string[] InterfaceKeys = { "parent", "host_name", "name" };

    protected override void Check(string name, IReadOnlyDictionary<string, string> device)
    {
        var network = device.ContainsKey("network");
        var nicType = device.TryGetValue("nictype", out var t);
        if (network == nicType)
        {
            Problem(name, network ? "cannot have both \"network\" and \"nictype\"" : "needs a \"network\" or a \"nictype\"");
        }
        if (nicType && !NicTypes.Contains(t))
        {
            throw new BadRequestException($"Device \"{name}\": unknown nictype \"{t}\"");
        }
        foreach (var key in InterfaceKeys)
        {
            if (device.TryGetValue(key, out var ifname) && ifname.Length > 0 && !DeviceTypes.IsInterfaceName(ifname))
            {
                BadValue(name, key, $"\"{Validators.Printable(ifname)}\" is not a valid interface name (1 to 15 characters, no '/', ':' or whitespace)");
            }
        }
    }
}

/// <summary>LXD's <c>unix-char</c> and <c>unix-block</c>: a device node by host source or instance path.</summary>
public sealed class UnixDevice(string type) : PlannedDevice(type, KeyList)
{
    private static readonly string[] KeyList = { "source", "path", "major", "minor", "uid", "gid", "mode", "required" };

    protected override void Check(string name, IReadOnlyDictionary<string, string> device)
    {
        if (!device.ContainsKey("source") && !device.ContainsKey("path"))
        {
            Problem(name, "needs a \"source\" or a \"path\"");
        }
    }
}
