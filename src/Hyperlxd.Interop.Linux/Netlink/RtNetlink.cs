using System.Net;
using System.Net.Sockets;

namespace Hyperlxd.Interop.Linux.Netlink;

/// <summary>
/// An rtnetlink (NETLINK_ROUTE) socket: links, addresses and routes without an <c>ip</c> process (which
/// costs ~10 ms a call here). One request at a time per instance (requests are serialised inside); every
/// failing request throws <see cref="ErrnoException"/> naming the operation and the link.
/// CONTRACT: the public surface below is what other projects code against; the bodies are filled in by
/// the netlink work of issue 11.
/// </summary>
public sealed class RtNetlink : IDisposable
{
    private RtNetlink()
    {
    }

    /// <summary>A socket in the calling process's network namespace.</summary>
    public static RtNetlink Open() => throw new NotImplementedException();

    /// <summary>
    /// A socket bound to the network namespace at <paramref name="netnsPath"/> (e.g. <c>/proc/PID/ns/net</c>,
    /// <c>/run/netns/NAME</c>): made on a short-lived dedicated thread that setns()es there, so no other
    /// thread of this process ever changes namespace.
    /// </summary>
    public static RtNetlink OpenIn(string netnsPath) => throw new NotImplementedException();

    public IReadOnlyList<LinkInfo> GetLinks() => throw new NotImplementedException();

    /// <summary>The link named <paramref name="name"/>, or null.</summary>
    public LinkInfo? GetLink(string name) => throw new NotImplementedException();

    /// <summary>A bridge (down); <paramref name="hwaddr"/> null lets the kernel choose.</summary>
    public void CreateBridge(string name, int? mtu = null, PhysicalAddress? hwaddr = null) => throw new NotImplementedException();

    /// <summary>A veth pair <paramref name="name"/> ↔ <paramref name="peer"/> (both down); <paramref name="peerHwaddr"/> and <paramref name="mtu"/> apply to the peer (and mtu to both).</summary>
    public void CreateVeth(string name, string peer, int? mtu = null, PhysicalAddress? peerHwaddr = null) => throw new NotImplementedException();

    /// <summary>Deletes a link; false when it did not exist (ENODEV), so teardown can repeat.</summary>
    public bool DeleteLink(string name) => throw new NotImplementedException();

    /// <summary>Enslaves <paramref name="name"/> to bridge <paramref name="master"/> (null: releases it).</summary>
    public void SetMaster(string name, string? master) => throw new NotImplementedException();

    public void SetUp(string name, bool up = true) => throw new NotImplementedException();

    public void SetMtu(string name, int mtu) => throw new NotImplementedException();

    public void SetHwAddr(string name, PhysicalAddress hwaddr) => throw new NotImplementedException();

    public void Rename(string name, string newName) => throw new NotImplementedException();

    /// <summary>
    /// Moves <paramref name="name"/> into the network namespace <paramref name="netns"/> (an open
    /// <c>/proc/PID/ns/net</c>), renamed to <paramref name="newName"/> and, when <paramref name="up"/>, up —
    /// in one RTM_NEWLINK, so it never appears there half-configured.
    /// </summary>
    public void MoveToNamespace(string name, SafeFdHandle netns, string newName, bool up) => throw new NotImplementedException();

    public IReadOnlyList<AddressInfo> GetAddresses(string? link = null) => throw new NotImplementedException();

    /// <summary>Adds an address (idempotent: EEXIST is success).</summary>
    public void AddAddress(string link, IPAddress address, int prefixLength) => throw new NotImplementedException();

    /// <summary>Removes an address; false when it was not there.</summary>
    public bool DeleteAddress(string link, IPAddress address, int prefixLength) => throw new NotImplementedException();

    /// <summary>The main table's routes of <paramref name="family"/> (InterNetwork or InterNetworkV6).</summary>
    public IReadOnlyList<RouteInfo> GetRoutes(AddressFamily family) => throw new NotImplementedException();

    public void Dispose()
    {
    }
}

/// <summary>A MAC address (6 bytes), as LXD writes it: lower-case, colon-separated.</summary>
public sealed record PhysicalAddress(byte[] Bytes)
{
    public static PhysicalAddress Parse(string s) => throw new NotImplementedException();

    public override string ToString() => string.Join(':', Bytes.Select(b => b.ToString("x2")));
}

/// <summary>Interface counters (IFLA_STATS64).</summary>
public sealed record LinkStats(long RxBytes, long TxBytes, long RxPackets, long TxPackets, long RxErrors, long TxErrors, long RxDropped, long TxDropped);

/// <param name="Kind">IFLA_INFO_KIND ("bridge", "veth"; "" for a physical link or loopback).</param>
/// <param name="Type">ARPHRD type (1 ether, 772 loopback).</param>
/// <param name="OperState">"up", "down", "unknown", ...</param>
public sealed record LinkInfo(int Index, string Name, string Kind, int Type, int Mtu, PhysicalAddress? HwAddr, bool Up, string OperState, int? MasterIndex, LinkStats Stats);

/// <param name="Scope">"global", "link", "host".</param>
public sealed record AddressInfo(int LinkIndex, IPAddress Address, int PrefixLength, string Scope);

/// <param name="Destination">Null with prefix 0: the default route.</param>
public sealed record RouteInfo(IPAddress? Destination, int PrefixLength, IPAddress? Gateway, int? OutputLinkIndex);
