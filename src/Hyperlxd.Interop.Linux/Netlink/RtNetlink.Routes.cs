using System.Net;
using System.Net.Sockets;

namespace Hyperlxd.Interop.Linux.Netlink;

/// <summary>Routes of the main table.</summary>
public sealed partial class RtNetlink
{
    private const ushort RTM_NEWROUTE = 24, RTM_GETROUTE = 26;
    private const ushort RTA_DST = 1, RTA_OIF = 4, RTA_GATEWAY = 5, RTA_TABLE = 15;
    private const byte RT_TABLE_MAIN = 254;

    /// <summary>The main table's routes of <paramref name="family"/> (InterNetwork or InterNetworkV6).</summary>
    public IReadOnlyList<RouteInfo> GetRoutes(AddressFamily family)
    {
        var what = "list routes";
        var f = Family(family, what);
        var routes = new List<RouteInfo>();
        Dump(() => NewDump(RTM_GETROUTE).RtMsg(f), what, routes.Clear, (type, body) =>
        {
            if (type == RTM_NEWROUTE && ParseRoute(body) is { } r)
            {
                routes.Add(r);
            }
        });
        return routes;
    }

    private static RouteInfo? ParseRoute(ReadOnlySpan<byte> body)
    {
        if (body.Length < 12)
        {
            return null;
        }
        var dstLength = body[1];
        uint table = body[4];
        IPAddress? dst = null, gateway = null;
        int? oif = null;
        var a = new NetlinkAttributes(body[12..]);
        while (a.Next())
        {
            switch (a.Type)
            {
                case RTA_TABLE:
                    table = a.U32;
                    break;
                case RTA_DST when a.Data.Length is 4 or 16:
                    dst = new IPAddress(a.Data);
                    break;
                case RTA_GATEWAY when a.Data.Length is 4 or 16:
                    gateway = new IPAddress(a.Data);
                    break;
                case RTA_OIF:
                    oif = (int)a.U32;
                    break;
            }
        }
        return table == RT_TABLE_MAIN ? new RouteInfo(dst, dstLength, gateway, oif) : null;
    }
}
