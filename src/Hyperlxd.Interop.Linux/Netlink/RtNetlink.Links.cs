using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Linux.Netlink;

/// <summary>Links: list, create (bridge, veth pair), delete, and set (master, up, mtu, address, name, namespace).</summary>
public sealed partial class RtNetlink
{
    // <linux/rtnetlink.h>, <linux/if_link.h>, <linux/veth.h>
    private const ushort RTM_NEWLINK = 16, RTM_DELLINK = 17, RTM_GETLINK = 18;
    private const ushort IFLA_ADDRESS = 1, IFLA_IFNAME = 3, IFLA_MTU = 4, IFLA_MASTER = 10, IFLA_OPERSTATE = 16,
        IFLA_LINKINFO = 18, IFLA_STATS64 = 23, IFLA_NET_NS_FD = 28;
    private const ushort IFLA_INFO_KIND = 1, IFLA_INFO_DATA = 2, VETH_INFO_PEER = 1;
    private const uint IFF_UP = 1;

    private static readonly string[] OperStates = ["unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"];

    public IReadOnlyList<LinkInfo> GetLinks()
    {
        var links = new List<LinkInfo>();
        Dump(() => NewDump(RTM_GETLINK).IfInfo(), "list links", links.Clear, (type, body) =>
        {
            if (type == RTM_NEWLINK && ParseLink(body) is { } link)
            {
                links.Add(link);
            }
        });
        return links;
    }

    /// <summary>The link named <paramref name="name"/>, or null.</summary>
    public LinkInfo? GetLink(string name)
    {
        if (!InterfaceName.IsValid(name))
        {
            return null;
        }
        LinkInfo? link = null;
        var ack = Request(NewRequest(RTM_GETLINK).IfInfo().String(IFLA_IFNAME, name), "get link " + name, (type, body) =>
        {
            if (type == RTM_NEWLINK)
            {
                link = ParseLink(body);
            }
        });
        return ack.Errno == Tmds.Linux.LibC.ENODEV ? null : ack.Ok ? link : throw ack.Fail("get link " + name);
    }

    /// <summary>A bridge (down); <paramref name="hwaddr"/> null lets the kernel choose.</summary>
    public void CreateBridge(string name, int? mtu = null, PhysicalAddress? hwaddr = null)
    {
        var m = NewRequest(RTM_NEWLINK, create: true).IfInfo();
        LinkAttributes(m, Checked(name), mtu, hwaddr);
        var info = m.BeginNested(IFLA_LINKINFO);
        m.String(IFLA_INFO_KIND, "bridge");
        m.EndNested(info);
        Request(m, "create bridge " + name).Check("create bridge " + name);
    }

    /// <summary>A veth pair <paramref name="name"/> ↔ <paramref name="peer"/> (both down); <paramref name="peerHwaddr"/> and <paramref name="mtu"/> apply to the peer (and mtu to both).</summary>
    public void CreateVeth(string name, string peer, int? mtu = null, PhysicalAddress? peerHwaddr = null)
    {
        var m = NewRequest(RTM_NEWLINK, create: true).IfInfo();
        LinkAttributes(m, Checked(name), mtu, null);
        var info = m.BeginNested(IFLA_LINKINFO);
        m.String(IFLA_INFO_KIND, "veth");
        var data = m.BeginNested(IFLA_INFO_DATA);
        var peerInfo = m.BeginNested(VETH_INFO_PEER);
        m.IfInfo(); // the peer's own ifinfomsg, then its attributes
        LinkAttributes(m, Checked(peer), mtu, peerHwaddr);
        m.EndNested(peerInfo).EndNested(data).EndNested(info);
        Request(m, $"create veth {name} (peer {peer})").Check($"create veth {name} (peer {peer})");
    }

    /// <summary>
    /// A veth pair for a running namespace: <paramref name="name"/> is born in <paramref name="netns"/> (an open
    /// <c>/proc/PID/ns/net</c>) with <paramref name="hwaddr"/> and up, its peer <paramref name="hostName"/> here
    /// (down). Born there rather than moved there: a move between namespaces costs the kernel an RCU barrier
    /// (tens of milliseconds on a loaded host). The new link is the inside end because the kernel opens a veth
    /// only once its peer exists, which the peer half of a create is not yet.
    /// </summary>
    public void CreateVethInto(SafeFdHandle netns, string name, string hostName, int? mtu = null, PhysicalAddress? hwaddr = null)
    {
        var what = $"create veth {hostName} (peer {name} in a namespace)";
        using var use = new FdUse(netns);
        var m = NewRequest(RTM_NEWLINK, create: true).IfInfo(0, IFF_UP, IFF_UP);
        LinkAttributes(m, Checked(name), mtu, hwaddr);
        m.U32(IFLA_NET_NS_FD, use.Fd);
        var info = m.BeginNested(IFLA_LINKINFO);
        m.String(IFLA_INFO_KIND, "veth");
        var data = m.BeginNested(IFLA_INFO_DATA);
        var peerInfo = m.BeginNested(VETH_INFO_PEER);
        m.IfInfo();
        LinkAttributes(m, Checked(hostName), mtu, null);
        m.EndNested(peerInfo).EndNested(data).EndNested(info);
        Request(m, what).Check(what);
    }

    /// <summary>Deletes a link; false when it did not exist (ENODEV), so teardown can repeat.</summary>
    public bool DeleteLink(string name)
    {
        if (!InterfaceName.IsValid(name))
        {
            return false;
        }
        var ack = Request(NewRequest(RTM_DELLINK).IfInfo().String(IFLA_IFNAME, name), "delete link " + name);
        return ack.Errno == Tmds.Linux.LibC.ENODEV ? false : ack.Ok ? true : throw ack.Fail("delete link " + name);
    }

    /// <summary>Enslaves <paramref name="name"/> to bridge <paramref name="master"/> (null: releases it).</summary>
    public void SetMaster(string name, string? master)
    {
        var what = master is null ? "release link " + name : $"attach link {name} to {master}";
        var masterIndex = master is null ? 0 : IndexOf(master, what);
        Set(name, what, m => m.U32(IFLA_MASTER, masterIndex));
    }

    public void SetUp(string name, bool up = true) =>
        Set(name, $"set link {name} {(up ? "up" : "down")}", null, up ? IFF_UP : 0, IFF_UP);

    public void SetMtu(string name, int mtu) => Set(name, $"set mtu {mtu} on link {name}", m => m.U32(IFLA_MTU, mtu));

    public void SetHwAddr(string name, PhysicalAddress hwaddr) =>
        Set(name, $"set address {hwaddr} on link {name}", m => m.Attr(IFLA_ADDRESS, hwaddr.Bytes));

    /// <summary>Renames a link (by index: IFLA_IFNAME is then the new name).</summary>
    public void Rename(string name, string newName)
    {
        var what = $"rename link {name} to {newName}";
        var m = NewRequest(RTM_NEWLINK).IfInfo(IndexOf(name, what)).String(IFLA_IFNAME, Checked(newName));
        Request(m, what).Check(what);
    }

    /// <summary>An RTM_NEWLINK on the existing link <paramref name="name"/> (found by name).</summary>
    private void Set(string name, string what, Action<NetlinkMessage>? attributes, uint flags = 0, uint change = 0)
    {
        if (!InterfaceName.IsValid(name))
        {
            throw Errno.Exception(Tmds.Linux.LibC.ENODEV, what);
        }
        var m = NewRequest(RTM_NEWLINK).IfInfo(0, flags, change).String(IFLA_IFNAME, name);
        attributes?.Invoke(m);
        Request(m, what).Check(what);
    }

    private int IndexOf(string name, string what) =>
        GetLink(name)?.Index ?? throw Errno.Exception(Tmds.Linux.LibC.ENODEV, $"{what}: no link {name}");

    private static void LinkAttributes(NetlinkMessage m, string name, int? mtu, PhysicalAddress? hwaddr)
    {
        m.String(IFLA_IFNAME, name);
        if (mtu is { } v)
        {
            m.U32(IFLA_MTU, v);
        }
        if (hwaddr is not null)
        {
            m.Attr(IFLA_ADDRESS, hwaddr.Bytes);
        }
    }

    /// <summary>A name the kernel would take (dev_valid_name), else EINVAL naming it.</summary>
    private static string Checked(string name) =>
        InterfaceName.IsValid(name) ? name : throw Errno.Exception(Tmds.Linux.LibC.EINVAL, $"invalid interface name \"{name}\"");

    /// <summary>An RTM_NEWLINK body (ifinfomsg + attributes) as a <see cref="LinkInfo"/>; null when it has no name.</summary>
    private static LinkInfo? ParseLink(ReadOnlySpan<byte> body)
    {
        if (body.Length < 16)
        {
            return null;
        }
        var arpType = MemoryMarshal.Read<ushort>(body[2..]);
        var index = MemoryMarshal.Read<int>(body[4..]);
        var flags = MemoryMarshal.Read<uint>(body[8..]);
        string? name = null;
        var kind = "";
        var mtu = 0;
        PhysicalAddress? hwaddr = null;
        int? master = null;
        var oper = "unknown";
        var stats = new LinkStats(0, 0, 0, 0, 0, 0, 0, 0);
        var a = new NetlinkAttributes(body[16..]);
        while (a.Next())
        {
            switch (a.Type)
            {
                case IFLA_IFNAME:
                    name = a.String;
                    break;
                case IFLA_MTU:
                    mtu = (int)a.U32;
                    break;
                case IFLA_ADDRESS when a.Data.Length > 0:
                    hwaddr = new PhysicalAddress(a.Data.ToArray());
                    break;
                case IFLA_MASTER:
                    master = (int)a.U32;
                    break;
                case IFLA_OPERSTATE when a.Data.Length > 0:
                    oper = a.Data[0] < OperStates.Length ? OperStates[a.Data[0]] : "unknown";
                    break;
                case IFLA_LINKINFO:
                    var k = NetlinkAttributes.Find(a.Data, IFLA_INFO_KIND);
                    kind = System.Text.Encoding.UTF8.GetString(k.IndexOf((byte)0) is var nul and >= 0 ? k[..nul] : k);
                    break;
                case IFLA_STATS64:
                    // struct rtnl_link_stats64: rx_packets, tx_packets, rx_bytes, tx_bytes, rx_errors, tx_errors, rx_dropped, tx_dropped, ...
                    ReadOnlySpan<byte> s = a.Data;
                    stats = new LinkStats(
                        RxBytes: (long)NetlinkAttributes.U64(s, 2), TxBytes: (long)NetlinkAttributes.U64(s, 3),
                        RxPackets: (long)NetlinkAttributes.U64(s, 0), TxPackets: (long)NetlinkAttributes.U64(s, 1),
                        RxErrors: (long)NetlinkAttributes.U64(s, 4), TxErrors: (long)NetlinkAttributes.U64(s, 5),
                        RxDropped: (long)NetlinkAttributes.U64(s, 6), TxDropped: (long)NetlinkAttributes.U64(s, 7));
                    break;
            }
        }
        return name is null ? null : new LinkInfo(index, name, kind, arpType, mtu, hwaddr, (flags & IFF_UP) != 0, oper, master, stats);
    }
}
