using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Linux.Netlink;

/// <summary>Interface addresses: list, add, delete.</summary>
public sealed partial class RtNetlink
{
    private const ushort RTM_NEWADDR = 20, RTM_DELADDR = 21, RTM_GETADDR = 22;
    private const ushort IFA_ADDRESS = 1, IFA_LOCAL = 2;

    /// <summary>Every address, or those of <paramref name="link"/> (ENODEV when it does not exist).</summary>
    public IReadOnlyList<AddressInfo> GetAddresses(string? link = null)
    {
        var index = link is null ? 0 : IndexOf(link, "list addresses of " + link);
        var addresses = new List<AddressInfo>();
        Dump(() => NewDump(RTM_GETADDR).IfAddr(0), "list addresses", addresses.Clear, (type, body) =>
        {
            if (type == RTM_NEWADDR && ParseAddress(body) is { } a && (index == 0 || a.LinkIndex == index))
            {
                addresses.Add(a);
            }
        });
        return addresses;
    }

    /// <summary>Adds an address (idempotent: EEXIST is success).</summary>
    public void AddAddress(string link, IPAddress address, int prefixLength)
    {
        var what = $"add address {address}/{prefixLength} to link {link}";
        var ack = Request(AddressMessage(RTM_NEWADDR, true, IndexOf(link, what), address, prefixLength, what), what);
        if (ack.Errno != Tmds.Linux.LibC.EEXIST)
        {
            ack.Check(what);
        }
    }

    /// <summary>Removes an address; false when it was not there.</summary>
    public bool DeleteAddress(string link, IPAddress address, int prefixLength)
    {
        var what = $"delete address {address}/{prefixLength} from link {link}";
        var ack = Request(AddressMessage(RTM_DELADDR, false, IndexOf(link, what), address, prefixLength, what), what);
        return ack.Errno == Tmds.Linux.LibC.EADDRNOTAVAIL ? false : ack.Ok ? true : throw ack.Fail(what);
    }

    private static NetlinkMessage AddressMessage(ushort type, bool create, int index, IPAddress address, int prefixLength, string what)
    {
        var family = Family(address.AddressFamily, what);
        var max = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        if (prefixLength < 0 || prefixLength > max)
        {
            throw Errno.Exception(Tmds.Linux.LibC.EINVAL, $"{what}: prefix length out of range");
        }
        var bytes = address.GetAddressBytes();
        var m = NewRequest(type, create).IfAddr(family, (byte)prefixLength, 0, index);
        // IPv4: IFA_LOCAL is the interface's own address (IFA_ADDRESS the peer, the same here); IPv6 has only IFA_ADDRESS.
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            m.Attr(IFA_LOCAL, bytes);
        }
        return m.Attr(IFA_ADDRESS, bytes);
    }

    private static byte Family(AddressFamily family, string what) => family switch
    {
        AddressFamily.InterNetwork => (byte)Tmds.Linux.LibC.AF_INET,
        AddressFamily.InterNetworkV6 => (byte)Tmds.Linux.LibC.AF_INET6,
        _ => throw Errno.Exception(Tmds.Linux.LibC.EAFNOSUPPORT, what),
    };

    private static string ScopeName(byte scope) => scope switch
    {
        0 => "global",
        200 => "site",
        253 => "link",
        254 => "host",
        _ => "nowhere",
    };

    private static AddressInfo? ParseAddress(ReadOnlySpan<byte> body)
    {
        if (body.Length < 8)
        {
            return null;
        }
        var prefix = body[1];
        var scope = body[3];
        var index = MemoryMarshal.Read<int>(body[4..]);
        IPAddress? local = null, address = null;
        var a = new NetlinkAttributes(body[8..]);
        while (a.Next())
        {
            if ((a.Type == IFA_LOCAL || a.Type == IFA_ADDRESS) && (a.Data.Length == 4 || a.Data.Length == 16))
            {
                var ip = new IPAddress(a.Data);
                if (a.Type == IFA_LOCAL)
                {
                    local = ip;
                }
                else
                {
                    address = ip;
                }
            }
        }
        return (local ?? address) is { } value ? new AddressInfo(index, value, prefix, ScopeName(scope)) : null;
    }
}
