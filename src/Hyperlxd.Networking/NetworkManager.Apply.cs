using System.Net;
using System.Net.Sockets;
using Hyperlxd.Core;
using Hyperlxd.Interop.Linux;
using Hyperlxd.Interop.Linux.Netlink;
using Hyperlxd.State.Repositories;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Networking;

/// <summary>The host side of a network: bridge, addresses, firewall, dnsmasq — each idempotent, so startup can re-apply them.</summary>
public sealed partial class NetworkManager
{
    /// <summary>Creates or adjusts the bridge to <paramref name="cfg"/>: mtu, hwaddr, exactly the configured global addresses, up.</summary>
    private async Task ApplyBridgeAsync(string name, BridgeConfig cfg, CancellationToken ct)
    {
        var rt = Netlink;
        var link = rt.GetLink(name);
        var hwaddr = cfg.HwAddr is { } h ? new PhysicalAddress(BridgeConfig.TryParseMac(h)!) : null;
        if (link is null)
        {
            rt.CreateBridge(name, cfg.Mtu, hwaddr);
        }
        else if (link.Kind != "bridge")
        {
            throw new ConflictException($"Network interface \"{name}\" already exists and is not a bridge");
        }
        else
        {
            if (link.Mtu != cfg.Mtu)
            {
                rt.SetMtu(name, cfg.Mtu);
            }
            if (hwaddr is not null && link.HwAddr?.ToString() != hwaddr.ToString())
            {
                rt.SetHwAddr(name, hwaddr);
            }
        }
        var want = new List<(IPAddress, int)>();
        if (cfg.IPv4 is { } v4)
        {
            want.Add((v4.Gateway, v4.Network.PrefixLength));
        }
        if (cfg.IPv6 is { } v6)
        {
            // No duplicate address detection on the bridge: dnsmasq must bind the gateway at once.
            await Netns.SetSysctlAsync($"net/ipv6/conf/{name}/accept_dad", "0", ct);
            want.Add((v6.Gateway, v6.Network.PrefixLength));
        }
        foreach (var a in rt.GetAddresses(name).Where(a => a.Scope == "global"))
        {
            if (!want.Any(w => w.Item1.Equals(a.Address) && w.Item2 == a.PrefixLength))
            {
                rt.DeleteAddress(name, a.Address, a.PrefixLength);
            }
        }
        foreach (var (address, prefix) in want)
        {
            rt.AddAddress(name, address, prefix);
        }
        rt.SetUp(name);
    }

    /// <summary>Renders Hyperlxd's tables from every managed network, proxy rule and MAC filter and swaps them in at once.</summary>
    internal async Task ApplyFirewallAsync(CancellationToken ct)
    {
        var networks = (await Repo.ListAsync(ct)).Select(n => FirewallOf(n.Name, new BridgeConfig(n.Config))).ToList();
        var nats = (await Repo.ListProxyNatAsync(ct))
            .Select(r => new Core.Networks.ProxyNat(r.Instance, r.Device, r.Protocol, r.ListenAddress, r.ListenPort, r.TargetAddress, r.TargetPort)).ToList();
        List<MacFilter> macs;
        lock (_macFilters)
        {
            macs = _macFilters.Values.OrderBy(m => m.HostName, StringComparer.Ordinal).ToList();
        }
        var (v4, v6) = NftRuleset.NeedsForwarding(networks, nats);
        if (v4)
        {
            await Netns.SetSysctlAsync("net/ipv4/ip_forward", "1", ct);
        }
        if (v6)
        {
            await Netns.SetSysctlAsync("net/ipv6/conf/all/forwarding", "1", ct);
        }
        try
        {
            // Reading the table list first (only when some table may go) keeps a namespace without networks untouched.
            var existing = (networks.Count > 0 || nats.Count > 0) && macs.Count > 0
                ? new HashSet<string>()
                : NftRuleset.ExistingTables(await Netns.RunAsync("nft", ["list", "tables"], ct: ct));
            var script = NftRuleset.Render(networks, nats, macs, existing);
            if (script.Length > 0)
            {
                await Netns.RunAsync("nft", ["-f", "-"], script, ct);
            }
        }
        catch (HostCommandFailedException e)
        {
            throw new BadRequestException("Failed applying the nftables rules: " + e.Stderr);
        }
    }

    private static FirewallNetwork FirewallOf(string name, BridgeConfig cfg) =>
        new(name, cfg.IPv4?.Network, cfg.IPv4Nat, cfg.IPv4Routing, cfg.IPv6?.Network, cfg.IPv6Nat);

    /// <summary>(Re)starts the network's dnsmasq when its arguments changed (adopting a running one with the same), or stops it when none is needed.</summary>
    private async Task ApplyDnsmasqAsync(string name, BridgeConfig cfg, CancellationToken ct)
    {
        var paths = PathsOf(name);
        var args = Dnsmasq.BuildArgs(name, cfg, paths);
        if (_dnsmasq.TryGetValue(name, out var current))
        {
            if (args is not null && current.Args.SequenceEqual(args))
            {
                return;
            }
            StopDnsmasq(name);
        }
        if (args is not null)
        {
            _dnsmasq[name] = await Dnsmasq.StartAsync(Netns, name, paths, args, _logger, ct);
        }
    }

    private void StopDnsmasq(string name)
    {
        if (_dnsmasq.Remove(name, out var d))
        {
            d.Kill();
            d.Dispose();
        }
    }

    /// <summary>The pid of a network's dnsmasq (0: none): for state and tests.</summary>
    public int DnsmasqPid(string name) => _dnsmasq.TryGetValue(name, out var d) ? d.Pid : 0;

    /// <summary>
    /// Subnets in use other than <paramref name="self"/>'s: the namespace's routes and addresses (read,
    /// never probed) except those of managed bridges, plus every other managed network's subnets.
    /// </summary>
    private async Task<List<IPNetwork>> UsedSubnetsAsync(string? self, CancellationToken ct)
    {
        var managed = await Repo.ListAsync(ct);
        var rt = Netlink;
        var managedIndexes = rt.GetLinks().Where(l => managed.Any(m => m.Name == l.Name) || l.Name == self).Select(l => l.Index).ToHashSet();
        var used = new List<IPNetwork>();
        foreach (var family in new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6 })
        {
            foreach (var r in rt.GetRoutes(family))
            {
                if (r.Destination is { } d && r.PrefixLength > 0 && !(r.OutputLinkIndex is { } i && managedIndexes.Contains(i)) && !IsLinkLocal(d))
                {
                    used.Add(new IPNetwork(Subnets.Mask(d, r.PrefixLength), r.PrefixLength));
                }
            }
        }
        foreach (var a in rt.GetAddresses())
        {
            if (a.Scope == "global" && !managedIndexes.Contains(a.LinkIndex))
            {
                used.Add(new IPNetwork(Subnets.Mask(a.Address, a.PrefixLength), a.PrefixLength));
            }
        }
        foreach (var m in managed.Where(m => m.Name != self))
        {
            var cfg = new BridgeConfig(m.Config);
            used.AddRange(new[] { cfg.IPv4?.Network, cfg.IPv6?.Network }.OfType<IPNetwork>());
        }
        return used;
    }

    private static bool IsLinkLocal(IPAddress a) => a.IsIPv6LinkLocal || a.IsIPv6Multicast || (a.AddressFamily == AddressFamily.InterNetwork && a.GetAddressBytes() is [169, 254, ..]);

    /// <summary>Resolves <c>auto</c> addresses and refuses subnets that overlap anything in use, naming the key.</summary>
    private async Task<Dictionary<string, string>> ResolveAddressesAsync(string name, Dictionary<string, string> config, CancellationToken ct)
    {
        var used = await UsedSubnetsAsync(name, ct);
        var c = new Dictionary<string, string>(config);
        if (c.GetValueOrDefault("ipv4.address") == "auto")
        {
            c["ipv4.address"] = Subnets.PickIPv4(used, Random.Shared);
        }
        if (c.GetValueOrDefault("ipv6.address") == "auto")
        {
            c["ipv6.address"] = Subnets.PickIPv6(used, Random.Shared);
        }
        var cfg = new BridgeConfig(c);
        foreach (var (key, net) in new[] { ("ipv4.address", cfg.IPv4?.Network), ("ipv6.address", cfg.IPv6?.Network) })
        {
            if (net is { } n && used.FirstOrDefault(u => Subnets.Overlaps(u, n)) is { PrefixLength: > 0 } clash)
            {
                throw new BadRequestException($"Invalid value for network \"{name}\" option \"{key}\": subnet {n} overlaps {clash}, which is in use");
            }
        }
        return c;
    }

    /// <summary>Brings one network's host side to its config: bridge, dnsmasq (the firewall is applied once for all by the caller).</summary>
    private async Task BringUpAsync(NetworkRecord n, CancellationToken ct)
    {
        var cfg = new BridgeConfig(n.Config);
        Directory.CreateDirectory(PathsOf(n.Name).Dir);
        await ApplyBridgeAsync(n.Name, cfg, ct);
        await ApplyDnsmasqAsync(n.Name, cfg, ct);
    }

    /// <summary>Startup: every managed network re-applied idempotently (running dnsmasqs adopted), then the firewall once. A broken network is logged, not fatal.</summary>
    public Task StartupAsync(CancellationToken ct) => LockedAsync(async () =>
    {
        foreach (var n in await Repo.ListAsync(ct))
        {
            try
            {
                await BringUpAsync(n, ct);
            }
            catch (Exception e) when (e is HyperlxdException or ErrnoException or IOException or HostCommandFailedException)
            {
                _logger.LogError("Network {Network} could not be brought up: {Error}", n.Name, e.Message);
            }
        }
        await RestoreMacFiltersAsync(ct);
        try
        {
            await ApplyFirewallAsync(ct);
        }
        catch (Exception e) when (e is HyperlxdException or IOException)
        {
            _logger.LogError("The network firewall could not be applied: {Error}", e.Message);
        }
    }, ct);

    /// <summary>
    /// The MAC filters of nics that still run (their host-side veth exists): they live in the firewall,
    /// which startup renders whole, so they are re-derived from the instances' config rather than lost
    /// until the nic is plugged again.
    /// </summary>
    private async Task RestoreMacFiltersAsync(CancellationToken ct)
    {
        foreach (var nic in await InstanceNicsAsync(ct))
        {
            if (Core.Config.LxdBool.IsTrue(nic.Config.GetValueOrDefault("security.mac_filtering")) && nic.VolatileHostName is { Length: > 0 } host
                && (nic.Config.GetValueOrDefault("hwaddr") is { Length: > 0 } mac ? mac : nic.VolatileHwAddr) is { Length: > 0 } hwaddr
                && Netlink.GetLink(host) is not null)
            {
                lock (_macFilters)
                {
                    _macFilters[host] = new MacFilter(host, hwaddr);
                }
            }
        }
    }
}
