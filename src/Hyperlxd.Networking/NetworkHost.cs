using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Hyperlxd.Core;
using Hyperlxd.Core.Networks;
using Hyperlxd.Interop.Linux.Netlink;
using Hyperlxd.State.Repositories;

namespace Hyperlxd.Networking;

/// <summary>
/// What devices ask of the networks (<see cref="INetworkHost"/>): nic checks, the host side of a nic
/// (veth pair on the bridge, DHCP identity, MAC filter) and proxy DNAT rules. Every call can repeat;
/// a failing one leaves nothing behind.
/// </summary>
public sealed class NetworkHost(NetworkManager networks) : INetworkHost
{
    /// <summary>Where a nic plugs in: the bridge (null for p2p) and the managed network's config (null when unmanaged).</summary>
    private sealed record Target(string? Bridge, NetworkRecord? Network);

    /// <summary>The nic keys whose values two instances on one network must not share.</summary>
    private static readonly string[] StaticKeys = { "ipv4.address", "ipv6.address" };

    public async Task CheckNicAsync(NicRequest nic, CancellationToken ct)
    {
        var target = await ResolveAsync(nic, ct);
        var cfg = nic.Config;
        if (cfg.GetValueOrDefault("ipv4.address") is { Length: > 0 } v4)
        {
            CheckStatic(nic, "ipv4.address", v4, AddressFamily.InterNetwork, target.Network is { } n ? new BridgeConfig(n.Config).IPv4 : null);
        }
        if (cfg.GetValueOrDefault("ipv6.address") is { Length: > 0 } v6)
        {
            CheckStatic(nic, "ipv6.address", v6, AddressFamily.InterNetworkV6, target.Network is { } n ? new BridgeConfig(n.Config).IPv6 : null);
        }
        var hwaddr = HwAddrOf(nic);
        if (hwaddr is not null && BridgeConfig.TryParseMac(hwaddr) is null)
        {
            throw new BadRequestException($"Invalid value for device \"{nic.Device}\" option \"hwaddr\": \"{hwaddr}\" is not a MAC address");
        }
        if (hwaddr is null && !StaticKeys.Any(k => cfg.GetValueOrDefault(k) is { Length: > 0 }))
        {
            // Nothing another nic could hold: no need to read every instance (the usual nic at create).
            return;
        }
        foreach (var other in await networks.InstanceNicsAsync(ct))
        {
            if (other.Instance == nic.Instance)
            {
                continue;
            }
            var otherMac = other.Config.GetValueOrDefault("hwaddr") is { Length: > 0 } m ? m : other.VolatileHwAddr;
            if (hwaddr is not null && string.Equals(otherMac, hwaddr, StringComparison.OrdinalIgnoreCase))
            {
                throw new ConflictException($"MAC address \"{hwaddr}\" of device \"{nic.Device}\" is already used by instance \"{other.Instance}\" device \"{other.Device}\"");
            }
            foreach (var key in StaticKeys)
            {
                if (cfg.GetValueOrDefault(key) is { Length: > 0 } mine && other.Link == (target.Network?.Name ?? target.Bridge)
                    && other.Config.GetValueOrDefault(key) is { Length: > 0 } theirs && IPAddress.Parse(theirs).Equals(IPAddress.Parse(mine)))
                {
                    throw new ConflictException($"Address {mine} ({key}) of device \"{nic.Device}\" is already used by instance \"{other.Instance}\" device \"{other.Device}\"");
                }
            }
        }
    }

    private static void CheckStatic(NicRequest nic, string key, string value, AddressFamily family, (IPAddress Gateway, IPNetwork Network)? subnet)
    {
        if (!IPAddress.TryParse(value, out var a) || a.AddressFamily != family)
        {
            throw new BadRequestException($"Invalid value for device \"{nic.Device}\" option \"{key}\": \"{value}\" is not an {(family == AddressFamily.InterNetwork ? "IPv4" : "IPv6")} address");
        }
        if (subnet is not { } s)
        {
            throw new BadRequestException($"Device \"{nic.Device}\" option \"{key}\" needs a managed network with an {(family == AddressFamily.InterNetwork ? "IPv4" : "IPv6")} subnet");
        }
        if (!s.Network.Contains(a) || a.Equals(s.Gateway) || a.Equals(s.Network.BaseAddress) || (family == AddressFamily.InterNetwork && a.Equals(Subnets.Broadcast(s.Network))))
        {
            throw new BadRequestException($"Invalid value for device \"{nic.Device}\" option \"{key}\": {value} is not a free host address of {s.Network} (gateway {s.Gateway})");
        }
    }

    private async Task<Target> ResolveAsync(NicRequest nic, CancellationToken ct)
    {
        var cfg = nic.Config;
        if (cfg.GetValueOrDefault("network") is { Length: > 0 } name)
        {
            var n = await networks.Repo.FindAsync(name, ct) ?? throw new BadRequestException($"Network \"{name}\" not found (device \"{nic.Device}\")");
            return new Target(n.Name, n);
        }
        switch (cfg.GetValueOrDefault("nictype", ""))
        {
            case "p2p":
                return new Target(null, null);
            case "bridged":
                var parent = cfg.GetValueOrDefault("parent") is { Length: > 0 } p ? p : throw new BadRequestException($"Device \"{nic.Device}\": nictype \"bridged\" needs \"parent\" (or use \"network\")");
                var link = networks.Netlink.GetLink(parent) ?? throw new BadRequestException($"Device \"{nic.Device}\": parent \"{parent}\" not found");
                if (link.Kind != "bridge")
                {
                    throw new BadRequestException($"Device \"{nic.Device}\": parent \"{parent}\" is not a bridge");
                }
                return new Target(parent, await networks.Repo.FindAsync(parent, ct));
            case var t:
                throw new BadRequestException($"Device \"{nic.Device}\": nictype \"{t}\" is not supported (bridged, p2p, or network=)");
        }
    }

    private static string? HwAddrOf(NicRequest nic) =>
        nic.Config.GetValueOrDefault("hwaddr") is { Length: > 0 } h ? h.ToLowerInvariant()
        : nic.Volatile.GetValueOrDefault("hwaddr") is { Length: > 0 } v ? v.ToLowerInvariant() : null;

    private static string HostNameOf(NicRequest nic) =>
        nic.Config.GetValueOrDefault("host_name") is { Length: > 0 } h ? h
        : nic.Volatile.GetValueOrDefault("host_name") is { Length: > 0 } v ? v : "";

    private static string RandomHex(int bytes) => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(bytes));

    public async Task<NicPlan> PlugNicAsync(NicRequest nic, CancellationToken ct)
    {
        var target = await ResolveAsync(nic, ct);
        var rt = networks.Netlink;
        var hwaddr = HwAddrOf(nic) ?? "00:16:3e:" + string.Join(':', RandomNumberGenerator.GetBytes(3).Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
        var host = HostNameOf(nic) is { Length: > 0 } h ? h : (nic.Tap ? "tap" : "veth") + RandomHex(4);
        if (nic.Tap && target.Bridge is null)
        {
            throw new BadRequestException($"Device \"{nic.Device}\": a virtual machine's nic needs a bridge (network= or nictype=bridged)");
        }
        var peer = "";
        while (!nic.Tap && (peer.Length == 0 || rt.GetLink(peer) is not null))
        {
            peer = "hlx" + RandomHex(4);
        }
        var mtu = nic.Config.GetValueOrDefault("mtu") is { Length: > 0 } m ? int.Parse(m, CultureInfo.InvariantCulture)
            : target.Network is { } net ? new BridgeConfig(net.Config).Mtu
            : target.Bridge is { } b && rt.GetLink(b) is { } bl ? bl.Mtu : 1500;
        await using var revert = new Reverter();
        // A repeated plug (a start after a crash) replaces what an earlier one left.
        rt.DeleteLink(host);
        if (!nic.Tap)
        {
            // A VM's tap is made and put on the bridge by the hypervisor at start.
            rt.CreateVeth(host, peer, mtu, new PhysicalAddress(BridgeConfig.TryParseMac(hwaddr)!));
            revert.Add(() => rt.DeleteLink(host));
            if (target.Bridge is { } bridge)
            {
                rt.SetMaster(host, bridge);
            }
            rt.SetUp(host);
        }
        if (target.Network is { } managed)
        {
            await WriteIdentityAsync(managed, nic, hwaddr, ct);
            revert.Add(() => File.Delete(IdentityFile(managed.Name, nic)));
        }
        if (Core.Config.LxdBool.IsTrue(nic.Config.GetValueOrDefault("security.mac_filtering")))
        {
            await networks.SetMacFilterAsync(host, hwaddr, ct);
            revert.Add(() => networks.SetMacFilterAsync(host, null, CancellationToken.None));
        }
        revert.Success();
        var name = nic.Config.GetValueOrDefault("name") is { Length: > 0 } n ? n : nic.Device;
        return new NicPlan(nic.Device, host, peer, name, hwaddr, mtu, new Dictionary<string, string> { ["hwaddr"] = hwaddr, ["host_name"] = host })
        {
            Bridge = target.Bridge ?? "",
        };
    }

    public async Task UnplugNicAsync(NicRequest nic, CancellationToken ct)
    {
        if (HostNameOf(nic) is { Length: > 0 } host)
        {
            networks.Netlink.DeleteLink(host);
            await networks.SetMacFilterAsync(host, null, ct);
        }
        if (nic.Config.GetValueOrDefault("network") is { Length: > 0 } network)
        {
            File.Delete(IdentityFile(network, nic));
        }
        else if (nic.Config.GetValueOrDefault("parent") is { Length: > 0 } parent)
        {
            File.Delete(IdentityFile(parent, nic));
        }
    }

    private string IdentityFile(string network, NicRequest nic) => Path.Combine(networks.PathsOf(network).HostsDir, $"{nic.Instance}.{nic.Device}");

    /// <summary>
    /// The nic's line in dnsmasq's hosts directory (re-read by inotify, no restart): "hwaddr,[ip,]name", so the
    /// instance name resolves under dns.domain whatever hostname the client sends.
    /// </summary>
    private async Task WriteIdentityAsync(NetworkRecord network, NicRequest nic, string hwaddr, CancellationToken ct)
    {
        var cfg = new BridgeConfig(network.Config);
        var fields = new List<string> { hwaddr };
        if (nic.Config.GetValueOrDefault("ipv4.address") is { Length: > 0 } v4)
        {
            fields.Add(v4);
        }
        if (nic.Config.GetValueOrDefault("ipv6.address") is { Length: > 0 } v6)
        {
            fields.Add($"[{v6}]");
        }
        if (cfg.DnsMode == "managed")
        {
            fields.Add(nic.Instance);
        }
        var dir = networks.PathsOf(network.Name).HostsDir;
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, $"{nic.Instance}.{nic.Device}");
        // Written aside and renamed: dnsmasq must never read half a line.
        var tmp = Path.Combine(networks.PathsOf(network.Name).Dir, $".{nic.Instance}.{nic.Device}.tmp");
        await File.WriteAllTextAsync(tmp, string.Join(',', fields) + "\n", ct);
        File.SetUnixFileMode(tmp, (UnixFileMode)0b110_100_100);
        File.Move(tmp, file, overwrite: true);
    }

    public async Task AddProxyNatAsync(ProxyNat rule, CancellationToken ct)
    {
        if (!IPAddress.TryParse(rule.ListenAddress, out var listen) || !IPAddress.TryParse(rule.TargetAddress, out var target) || listen.AddressFamily != target.AddressFamily)
        {
            throw new BadRequestException($"Proxy device \"{rule.Device}\": NAT needs IP addresses of one family (listen {rule.ListenAddress}, connect {rule.TargetAddress})");
        }
        if (rule.Protocol is not ("tcp" or "udp") || rule.ListenPort is < 1 or > 65535 || rule.TargetPort is < 1 or > 65535)
        {
            throw new BadRequestException($"Proxy device \"{rule.Device}\": invalid protocol or port");
        }
        await networks.AddProxyNatAsync(new ProxyNatRecord(rule.Instance, rule.Device, rule.Protocol, listen.ToString(), rule.ListenPort, target.ToString(), rule.TargetPort), ct);
    }

    public Task RemoveProxyNatAsync(string instance, string device, CancellationToken ct) => networks.RemoveProxyNatAsync(instance, device, ct);
}
