using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Networks;

namespace Hyperlxd.Core.Devices;

/// <summary>
/// LXD's <c>nic</c>: <c>network=&lt;managed bridge&gt;</c>, <c>nictype=bridged</c> with a <c>parent</c> bridge, or
/// <c>nictype=p2p</c> — a veth pair made by the networking layer (<see cref="INetworkHost"/>), its peer moved
/// into the instance by the driver. The other nictypes are known (their keys are checked) and refused.
/// </summary>
public sealed partial class NicDevice() : Device("nic", KeyList)
{
    private static readonly string[] KeyList =
    {
        "nictype", "network", "parent", "name", "hwaddr", "mtu", "host_name", "vlan", "ipv4.address", "ipv6.address", "ipv4.routes", "ipv6.routes",
        "security.mac_filtering", "security.ipv4_filtering", "security.ipv6_filtering", "limits.ingress", "limits.egress", "limits.max", "boot.priority", "queue.tx.length",
    };

    private static readonly string[] NicTypes = { "bridged", "macvlan", "p2p", "physical", "sriov", "ipvlan", "routed" };

    private static readonly string[] Supported = { "bridged", "p2p" };

    /// <summary>A nic's host-side and instance-side interface names.</summary>
    private static readonly string[] InterfaceKeys = { "parent", "host_name", "name" };

    /// <summary>What a <c>p2p</c> nic accepts besides its type (LXD's nic_p2p optional fields).</summary>
    private static readonly string[] P2PKeys = { "nictype", "name", "mtu", "hwaddr", "host_name", "limits.ingress", "limits.egress", "limits.max", "ipv4.routes", "ipv6.routes", "boot.priority" };

    /// <summary>Keys a <c>network</c> nic takes from its network (LXD: "Cannot use ... in conjunction with network").</summary>
    private static readonly string[] NetworkBanned = { "nictype", "parent", "mtu" };

    private static readonly string[] BoolKeys = { "security.mac_filtering", "security.ipv4_filtering", "security.ipv6_filtering" };

    public override bool HotPluggable => true;

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
        if (Value(device, "name") is { } ifName && !LxdInterfaceName().IsMatch(ifName))
        {
            // LXD's IsInterfaceName for the name inside the instance: 2 to 15 of [-_a-zA-Z0-9.].
            BadValue(name, "name", $"\"{Validators.Printable(ifName)}\" is not a valid interface name (2 to 15 characters of a-z, A-Z, 0-9, '-', '_', '.')");
        }
        if (Value(device, "hwaddr") is { } mac && !IsMac(mac))
        {
            BadValue(name, "hwaddr", "Invalid MAC address, must be 6 bytes of hex separated by colons");
        }
        if (Value(device, "mtu") is { } mtu && (!int.TryParse(mtu, out var m) || m < 1280 || m > 16384))
        {
            BadValue(name, "mtu", $"Out of MTU range (1280-16384) \"{Validators.Printable(mtu)}\"");
        }
        CheckAddress(name, device, "ipv4.address", AddressFamily.InterNetwork);
        CheckAddress(name, device, "ipv6.address", AddressFamily.InterNetworkV6);
        foreach (var key in BoolKeys)
        {
            CheckBool(name, device, key);
        }
        if (Value(device, "boot.priority") is { } prio && !uint.TryParse(prio, out _))
        {
            BadValue(name, "boot.priority", "must be an unsigned integer");
        }
        if (network)
        {
            foreach (var banned in NetworkBanned.Where(k => Value(device, k) is not null))
            {
                throw new BadRequestException($"Device \"{name}\": Cannot use \"{banned}\" property in conjunction with \"network\" property");
            }
            return;
        }
        if (!Supported.Contains(t))
        {
            throw new BadRequestException($"Device \"{name}\": nictype \"{t}\" is not supported yet (supported: network=<managed network>, nictype=bridged, nictype=p2p)");
        }
        if (t == "bridged" && Value(device, "parent") is null)
        {
            throw new BadRequestException($"Device \"{name}\": missing required key \"parent\" for nictype \"bridged\"");
        }
        if (t == "p2p" && device.Keys.FirstOrDefault(k => k != "type" && !k.StartsWith("user.", StringComparison.Ordinal) && !P2PKeys.Contains(k)) is { } extra)
        {
            throw new BadRequestException($"Device \"{name}\": key \"{extra}\" does not apply to a nic of nictype \"p2p\"");
        }
    }

    /// <summary>A VM's nic is a tap that the hypervisor puts on a bridge: a p2p nic (a tap on no bridge) is not built for VMs yet.</summary>
    protected override void Check(string name, IReadOnlyDictionary<string, string> device, InstanceType? instanceType)
    {
        Check(name, device);
        if (instanceType == InstanceType.VirtualMachine && Value(device, "nictype") == "p2p")
        {
            throw new BadRequestException($"Device \"{name}\": nictype \"p2p\" is not supported for virtual machines yet (supported: network=<managed network>, nictype=bridged)");
        }
    }

    /// <summary>"none" or an address of <paramref name="family"/> (LXD's bridged rule; a p2p nic has no such key).</summary>
    private static void CheckAddress(string name, IReadOnlyDictionary<string, string> device, string key, AddressFamily family)
    {
        if (Value(device, key) is not { } v || v == "none")
        {
            return;
        }
        if (!IPAddress.TryParse(v, out var ip) || ip.AddressFamily != family || v.Contains('/') || v.Contains('%'))
        {
            BadValue(name, key, $"Not an IPv{(family == AddressFamily.InterNetwork ? 4 : 6)} address \"{Validators.Printable(v)}\"");
        }
    }

    /// <summary>LXD's IsNetworkMAC: six bytes of hex separated by colons.</summary>
    public static bool IsMac(string v) => MacPattern().IsMatch(v);

    [GeneratedRegex("^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")]
    private static partial Regex MacPattern();

    [GeneratedRegex("^[-_a-zA-Z0-9.]{2,15}$")]
    private static partial Regex LxdInterfaceName();

    private static NicRequest Request(DeviceContext d) => new(d.Instance, d.Name, d.Config, d.Volatile) { Tap = d.Type == InstanceType.VirtualMachine };

    public override Task CheckAsync(DeviceContext device, CancellationToken ct) => device.Host.Networks.CheckNicAsync(Request(device), ct);

    public override async Task<DeviceSetup> SetupAsync(DeviceContext device, CancellationToken ct)
    {
        var plan = await device.Host.Networks.PlugNicAsync(Request(device), ct);
        return new DeviceSetup([], plan.Volatile) { Nics = [plan] };
    }

    /// <summary>The host end goes (and the peer with it); the generated hwaddr stays, the host name is a start's.</summary>
    public override async Task<IReadOnlyDictionary<string, string>> TeardownAsync(DeviceContext device, CancellationToken ct)
    {
        await device.Host.Networks.UnplugNicAsync(Request(device), ct);
        return device.Volatile.ContainsKey("host_name") ? new Dictionary<string, string> { ["host_name"] = "" } : new Dictionary<string, string>();
    }
}
