using Hyperlxd.Core;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Tests.Unit;

/// <summary>The nic device's key rules (LXD 5.0.2's nic_bridged / nic_p2p validation), without a host.</summary>
public sealed class NicDeviceTests
{
    private static void Valid(params string[] kv) => DeviceTypes.Validate(Devices(kv), InstanceType.Container);

    private static Dictionary<string, Dictionary<string, string>> Devices(string[] kv) =>
        new() { ["eth0"] = kv.Select(s => s.Split('=', 2)).ToDictionary(p => p[0], p => p[1]) };

    private static string Refused(InstanceType? type, params string[] kv)
    {
        var e = Assert.Throws<BadRequestException>(() => DeviceTypes.Validate(Devices(kv), type));
        Assert.Equal(400, e.StatusCode);
        Assert.Contains("\"eth0\"", e.Message);
        return e.Message;
    }

    private static string Refused(params string[] kv) => Refused(InstanceType.Container, kv);

    [Fact]
    public void Managed_network_bridged_and_p2p_nics_are_accepted()
    {
        Valid("type=nic", "network=lxdbr0", "name=eth0", "hwaddr=00:16:3e:aa:bb:cc", "ipv4.address=10.0.3.10", "ipv6.address=fd42::10", "security.mac_filtering=true", "host_name=vethx");
        Valid("type=nic", "nictype=bridged", "parent=br0", "mtu=1500");
        Valid("type=nic", "nictype=p2p", "name=eth1", "mtu=9000", "host_name=p2p0");
        Valid("type=nic", "network=lxdbr0", "ipv4.address=none");
        // "" is unset, as LXD's optional validators take it.
        Valid("type=nic", "network=lxdbr0", "hwaddr=", "mtu=");
        DeviceTypes.Validate(Devices(["type=nic", "nictype=bridged", "parent=br0"]), InstanceType.VirtualMachine);
        DeviceTypes.Validate(Devices(["type=nic", "network=lxdbr0"]));
    }

    [Fact]
    public void A_p2p_nic_is_refused_for_a_vm_only()
    {
        Assert.Contains("virtual machines", Refused(InstanceType.VirtualMachine, "type=nic", "nictype=p2p"));
        DeviceTypes.Validate(Devices(["type=nic", "nictype=p2p"]), null);
    }

    [Theory]
    [InlineData("macvlan")]
    [InlineData("physical")]
    [InlineData("sriov")]
    [InlineData("ipvlan")]
    [InlineData("routed")]
    public void Other_nictypes_are_refused_as_not_supported_yet(string nictype)
    {
        var message = Refused("type=nic", "nictype=" + nictype, "parent=eth0");
        Assert.Contains($"nictype \"{nictype}\" is not supported yet", message);
    }

    [Theory]
    [InlineData("hwaddr=00:16:3e:aa:bb", "hwaddr", "Invalid MAC address")]
    [InlineData("hwaddr=00-16-3e-aa-bb-cc", "hwaddr", "Invalid MAC address")]
    [InlineData("hwaddr=zz:16:3e:aa:bb:cc", "hwaddr", "Invalid MAC address")]
    [InlineData("mtu=1279", "mtu", "Out of MTU range (1280-16384)")]
    [InlineData("mtu=16385", "mtu", "Out of MTU range (1280-16384)")]
    [InlineData("mtu=big", "mtu", "Out of MTU range")]
    [InlineData("ipv4.address=10.0.3.300", "ipv4.address", "Not an IPv4 address")]
    [InlineData("ipv4.address=fd42::1", "ipv4.address", "Not an IPv4 address")]
    [InlineData("ipv4.address=10.0.3.0/24", "ipv4.address", "Not an IPv4 address")]
    [InlineData("ipv6.address=10.0.3.1", "ipv6.address", "Not an IPv6 address")]
    [InlineData("name=e", "name", "not a valid interface name")]
    [InlineData("name=eth@0", "name", "not a valid interface name")]
    [InlineData("security.mac_filtering=maybe", "security.mac_filtering", "boolean")]
    public void Bad_values_are_a_400_naming_the_key(string kv, string key, string problem)
    {
        var message = Refused("type=nic", "nictype=bridged", "parent=br0", kv);
        Assert.Contains($"\"{key}\"", message);
        Assert.Contains(problem, message);
    }

    [Fact]
    public void Network_and_nictype_rules_follow_lxd()
    {
        Assert.Contains("cannot have both \"network\" and \"nictype\"", Refused("type=nic", "network=lxdbr0", "nictype=bridged"));
        Assert.Contains("needs a \"network\" or a \"nictype\"", Refused("type=nic", "name=eth0"));
        Assert.Contains("Cannot use \"parent\" property in conjunction with \"network\" property", Refused("type=nic", "network=lxdbr0", "parent=br0"));
        Assert.Contains("Cannot use \"mtu\" property in conjunction with \"network\" property", Refused("type=nic", "network=lxdbr0", "mtu=1500"));
        Assert.Contains("missing required key \"parent\"", Refused("type=nic", "nictype=bridged"));
        // p2p has no bridge: no static address, no parent, no filtering.
        Assert.Contains("key \"ipv4.address\" does not apply to a nic of nictype \"p2p\"", Refused("type=nic", "nictype=p2p", "ipv4.address=10.0.0.2"));
        Assert.Contains("key \"parent\" does not apply", Refused("type=nic", "nictype=p2p", "parent=br0"));
        Assert.Contains("unknown nictype \"wormhole\"", Refused("type=nic", "nictype=wormhole"));
        Assert.Contains("unknown key \"colour\"", Refused("type=nic", "network=lxdbr0", "colour=red"));
    }

    [Fact]
    public void Two_nics_cannot_share_a_name_inside_the_instance()
    {
        var devices = new Dictionary<string, Dictionary<string, string>>
        {
            ["a"] = new() { ["type"] = "nic", ["network"] = "n1", ["name"] = "eth0" },
            ["b"] = new() { ["type"] = "nic", ["network"] = "n2", ["name"] = "eth0" },
        };
        var e = Assert.Throws<BadRequestException>(() => DeviceTypes.Validate(devices, InstanceType.Container));
        Assert.Contains("Duplicate NIC name detected \"eth0\"", e.Message);
        devices["b"]["name"] = "eth1";
        DeviceTypes.Validate(devices, InstanceType.Container);
    }

    [Fact]
    public void Nics_proxies_and_disks_hot_plug_and_planned_types_do_not()
    {
        foreach (var type in new[] { "nic", "proxy", "disk" })
        {
            Assert.True(DeviceTypes.Of(new Dictionary<string, string> { ["type"] = type }).HotPluggable, type);
        }
        Assert.False(DeviceTypes.Of(new Dictionary<string, string> { ["type"] = "usb" }).HotPluggable);
    }
}
