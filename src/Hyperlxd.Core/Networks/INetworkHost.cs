namespace Hyperlxd.Core.Networks;

/// <summary>
/// What devices may do with the host's networks: the contract between the device model (Core) and the
/// networking layer (<c>Hyperlxd.Networking</c>, which implements it). Every call is safe to repeat,
/// and a failing call leaves nothing behind (no veth, rule, reservation or forwarder).
/// </summary>
public interface INetworkHost
{
    /// <summary>
    /// Checks a nic's config against the networks, without changing anything: the managed
    /// <c>network</c> or the <c>parent</c> exists, a static <c>ipv4.address</c>/<c>ipv6.address</c> lies in
    /// the network's subnet, and no other instance's nic holds the same <c>hwaddr</c> or static address.
    /// Throws <see cref="BadRequestException"/> (missing network, bad address) or <see cref="ConflictException"/> (taken), naming it.
    /// </summary>
    Task CheckNicAsync(NicRequest nic, CancellationToken ct);

    /// <summary>
    /// Readies the host side of a nic for a start or a hot-plug: its host-end name, hwaddr, mtu and bridge
    /// (the plan), a leftover link of that name removed, the MAC filter and, on a managed network, the DHCP
    /// identity (hwaddr, static address, the instance name for DNS). The driver makes the link itself from
    /// the plan (a container's veth pair, created with its other end inside; a VM's tap), because only the
    /// driver can make it in place, and puts it on <see cref="NicPlan.Bridge"/>.
    /// </summary>
    Task<NicPlan> PlugNicAsync(NicRequest nic, CancellationToken ct);

    /// <summary>Removes the host end if it is still there (a veth's other end goes with it) and the runtime part of the DHCP identity.</summary>
    Task UnplugNicAsync(NicRequest nic, CancellationToken ct);

    /// <summary>
    /// A <c>proxy</c> device with <c>nat=true</c>: DNAT of its listen address/port to <paramref name="target"/>
    /// (the instance's static address) in Hyperlxd's nftables table. A port already taken is a 409 naming it.
    /// </summary>
    Task AddProxyNatAsync(ProxyNat rule, CancellationToken ct);

    Task RemoveProxyNatAsync(string instance, string device, CancellationToken ct);
}

/// <summary>One nic of one instance: its expanded device keys and its <c>volatile.&lt;device&gt;.*</c> keys (without that prefix).</summary>
public sealed record NicRequest(string Instance, string Device, IReadOnlyDictionary<string, string> Config, IReadOnlyDictionary<string, string> Volatile)
{
    /// <summary>A virtual machine's nic: the host end is a tap the hypervisor makes (named <c>tap…</c>), and it needs a bridge.</summary>
    public bool Tap { get; init; }
}

/// <summary>
/// The host side of a nic, for the driver to make: a link named <paramref name="HostName"/> on
/// <see cref="Bridge"/> (none for a p2p nic), its instance end named <paramref name="Name"/> with
/// <paramref name="HwAddr"/> and <paramref name="Mtu"/>; the volatile keys to record (<c>hwaddr</c>,
/// <c>host_name</c>, …; "" removes one).
/// </summary>
public sealed record NicPlan(string Device, string HostName, string Name, string HwAddr, int Mtu, IReadOnlyDictionary<string, string> Volatile)
{
    /// <summary>The bridge the host end goes on; "" for none.</summary>
    public string Bridge { get; init; } = "";
}

/// <param name="Protocol">"tcp" or "udp".</param>
public sealed record ProxyNat(string Instance, string Device, string Protocol, string ListenAddress, int ListenPort, string TargetAddress, int TargetPort);
