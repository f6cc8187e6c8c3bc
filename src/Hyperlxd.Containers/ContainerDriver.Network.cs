using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Networks;
using Hyperlxd.Interop.Linux.Netlink;

namespace Hyperlxd.Containers;

/// <summary>Nics: hot-plug into a running container, its network namespace, and its interfaces in the state.</summary>
public sealed partial class ContainerDriver
{
    private const int ArphrdEther = 1, ArphrdLoopback = 772;

    public async Task AttachNicAsync(InstanceSpec spec, NicPlan nic, CancellationToken ct)
    {
        var pid = await RunningInitAsync(spec, ct)
            ?? throw new BadRequestException($"Instance \"{spec.DisplayName}\" is not running: its nic \"{nic.Device}\" is added at the next start");
        var netnsPath = $"/proc/{pid}/ns/net";
        using (var inside = RtNetlink.OpenIn(netnsPath))
        {
            // A clear 409 rather than the kernel's EEXIST for the inside name.
            if (inside.GetLink(nic.Name) is not null)
            {
                throw new ConflictException($"Instance \"{spec.DisplayName}\" already has an interface named \"{nic.Name}\" (nic \"{nic.Device}\")");
            }
        }
        using var netlink = _options.NicNamespace is { } ns ? RtNetlink.OpenIn(ns) : RtNetlink.Open();
        using (var target = Syscalls.Open(netnsPath, Tmds.Linux.LibC.O_RDONLY))
        {
            netlink.CreateVethInto(target, nic.Name, nic.HostName, nic.Mtu, PhysicalAddress.Parse(nic.HwAddr));
        }
        try
        {
            if (nic.Bridge.Length > 0)
            {
                netlink.SetMaster(nic.HostName, nic.Bridge);
            }
            netlink.SetUp(nic.HostName);
        }
        catch (IOException)
        {
            netlink.DeleteLink(nic.HostName); // the inside end goes with it
            throw;
        }
    }

    public async Task<string?> NetworkNamespaceAsync(InstanceSpec spec, CancellationToken ct) =>
        await RunningInitAsync(spec, ct) is { } pid ? $"/proc/{pid}/ns/net" : null;

    private async Task<int?> RunningInitAsync(InstanceSpec spec, CancellationToken ct) =>
        await StatusAsync(spec.Name, ct) is { Running: true } status ? status.InitPid : null;

    /// <summary>
    /// The container's interfaces as LXD reports them, from one netlink socket in its namespace (one link
    /// dump, one address dump); each nic's host-side veth from its device and <c>volatile.DEV.host_name</c>.
    /// Empty when the namespace is gone (the container stopped meanwhile).
    /// </summary>
    private static Dictionary<string, NetworkState> Network(InstanceSpec spec, int pid)
    {
        var result = new Dictionary<string, NetworkState>();
        IReadOnlyList<LinkInfo> links;
        IReadOnlyList<AddressInfo> addresses;
        try
        {
            using var netlink = RtNetlink.OpenIn($"/proc/{pid}/ns/net");
            links = netlink.GetLinks();
            addresses = netlink.GetAddresses();
        }
        catch (IOException)
        {
            return result;
        }
        var hostNames = HostNames(spec);
        foreach (var link in links)
        {
            var addrs = addresses.Where(a => a.LinkIndex == link.Index)
                .Select(a => new NetworkAddress(
                    a.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? "inet" : "inet6",
                    a.Address.ToString(),
                    a.PrefixLength.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    a.Scope switch { "host" => "local", "link" => "link", _ => "global" }))
                .ToList();
            var type = link.Type switch { ArphrdLoopback => "loopback", ArphrdEther => "broadcast", _ => "point-to-point" };
            // As Go's net.Interface (LXD): an all-zero address (loopback) is none.
            var hwaddr = link.HwAddr is { } hw && hw.Bytes.Any(b => b != 0) ? hw.ToString() : "";
            result[link.Name] = new NetworkState(type, link.Up ? "up" : "down", hwaddr, link.Mtu, addrs,
                link.Stats.RxBytes, link.Stats.TxBytes, link.Stats.RxPackets, link.Stats.TxPackets, hostNames.GetValueOrDefault(link.Name, ""));
        }
        return result;
    }

    /// <summary>Interface name inside → host-side veth, for the nic devices (LXD's <c>name</c> defaults to the device's name).</summary>
    private static Dictionary<string, string> HostNames(InstanceSpec spec)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (device, keys) in spec.Devices)
        {
            if (keys.GetValueOrDefault("type") != "nic")
            {
                continue;
            }
            var host = spec.Config.GetValueOrDefault($"volatile.{device}.host_name") ?? keys.GetValueOrDefault("host_name");
            if (!string.IsNullOrEmpty(host))
            {
                map[keys.GetValueOrDefault("name") is { Length: > 0 } name ? name : device] = host;
            }
        }
        return map;
    }
}
