using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Hyperlxd.Networking;

/// <summary>One managed bridge as the firewall sees it.</summary>
public sealed record FirewallNetwork(string Bridge, IPNetwork? IPv4, bool IPv4Nat, bool IPv4Routing, IPNetwork? IPv6, bool IPv6Nat);

/// <summary>A nic with <c>security.mac_filtering</c>: frames from <paramref name="HostName"/> must carry <paramref name="HwAddr"/>.</summary>
public sealed record MacFilter(string HostName, string HwAddr);

/// <summary>
/// Hyperlxd's nftables tables, rendered whole from state: <c>inet hyperlxd</c> (DHCP/DNS input, forward,
/// masquerade, proxy DNAT) and, only when a nic filters MACs, <c>bridge hyperlxd</c> (frames between
/// bridge ports never reach an inet hook). Applied in one <c>nft -f</c> transaction that declares,
/// deletes and re-adds each table, so the swap is atomic and no other table is ever named.
/// </summary>
public static class NftRuleset
{
    public const string Table = "hyperlxd";

    /// <param name="existing">Families ("inet", "bridge") whose hyperlxd table exists now: a table nothing needs is
    /// deleted only then, so a namespace without networks never sees one (not even briefly).</param>
    /// <returns>The nft script; "" when there is nothing to do.</returns>
    public static string Render(IReadOnlyList<FirewallNetwork> networks, IReadOnlyList<Core.Networks.ProxyNat> nats, IReadOnlyList<MacFilter> macs,
        IReadOnlySet<string> existing)
    {
        var sb = new StringBuilder();
        var inet = networks.Count > 0 || nats.Count > 0;
        Replace(sb, "inet", inet, existing);
        if (inet)
        {
            RenderInet(sb, networks, nats);
        }
        Replace(sb, "bridge", macs.Count > 0, existing);
        if (macs.Count > 0)
        {
            sb.Append("table bridge ").Append(Table).Append(" {\n");
            sb.Append("\tchain prerouting {\n\t\ttype filter hook prerouting priority -200; policy accept;\n");
            foreach (var m in macs)
            {
                sb.Append(CultureInfo.InvariantCulture, $"\t\tiifname \"{m.HostName}\" ether saddr != {m.HwAddr} drop\n");
            }
            sb.Append("\t}\n}\n");
        }
        return sb.ToString();
    }

    /// <summary>Clears the family's table: declared first when it is to be re-added ("table X" alone adds it if missing, so the delete never fails).</summary>
    private static void Replace(StringBuilder sb, string family, bool needed, IReadOnlySet<string> existing)
    {
        if (needed)
        {
            sb.Append(CultureInfo.InvariantCulture, $"table {family} {Table}\n");
        }
        if (needed || existing.Contains(family))
        {
            sb.Append(CultureInfo.InvariantCulture, $"delete table {family} {Table}\n");
        }
    }

    /// <summary>The families of the hyperlxd tables in <c>nft list tables</c> output.</summary>
    public static HashSet<string> ExistingTables(string listTables) =>
        listTables.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split(' '))
            .Where(f => f.Length == 3 && f[0] == "table" && f[2] == Table)
            .Select(f => f[1])
            .ToHashSet();

    /// <summary>True when some network needs IPv4/IPv6 forwarding in the namespace.</summary>
    public static (bool V4, bool V6) NeedsForwarding(IReadOnlyList<FirewallNetwork> networks, IReadOnlyList<Core.Networks.ProxyNat> nats) =>
        (networks.Any(n => n.IPv4 is not null && (n.IPv4Routing || n.IPv4Nat)) || nats.Any(r => !r.TargetAddress.Contains(':')),
         networks.Any(n => n.IPv6 is not null) || nats.Any(r => r.TargetAddress.Contains(':')));

    private static void RenderInet(StringBuilder sb, IReadOnlyList<FirewallNetwork> networks, IReadOnlyList<Core.Networks.ProxyNat> nats)
    {
        sb.Append("table inet ").Append(Table).Append(" {\n");
        sb.Append("\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n");
        foreach (var n in networks)
        {
            sb.Append(CultureInfo.InvariantCulture, $"\t\tiifname \"{n.Bridge}\" udp dport {{ 67, 547 }} accept\n");
            sb.Append(CultureInfo.InvariantCulture, $"\t\tiifname \"{n.Bridge}\" meta l4proto {{ tcp, udp }} th dport 53 accept\n");
            sb.Append(CultureInfo.InvariantCulture, $"\t\tiifname \"{n.Bridge}\" icmpv6 type {{ nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert }} accept\n");
        }
        sb.Append("\t}\n");
        sb.Append("\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n");
        foreach (var n in networks.Where(n => n.IPv4Routing))
        {
            sb.Append(CultureInfo.InvariantCulture, $"\t\tiifname \"{n.Bridge}\" accept\n");
            sb.Append(CultureInfo.InvariantCulture, $"\t\toifname \"{n.Bridge}\" accept\n");
        }
        sb.Append("\t}\n");
        sb.Append("\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
        foreach (var n in networks)
        {
            if (n.IPv4Nat && n.IPv4 is { } v4)
            {
                sb.Append(CultureInfo.InvariantCulture, $"\t\tip saddr {v4} ip daddr != {v4} masquerade\n");
            }
            if (n.IPv6Nat && n.IPv6 is { } v6)
            {
                sb.Append(CultureInfo.InvariantCulture, $"\t\tip6 saddr {v6} ip6 daddr != {v6} masquerade\n");
            }
        }
        sb.Append("\t}\n");
        foreach (var (chain, hook) in new[] { ("prerouting", "prerouting"), ("output", "output") })
        {
            sb.Append(CultureInfo.InvariantCulture, $"\tchain {chain} {{\n\t\ttype nat hook {hook} priority -100; policy accept;\n");
            foreach (var r in nats)
            {
                sb.Append("\t\t").Append(DnatRule(r)).Append('\n');
            }
            sb.Append("\t}\n");
        }
        sb.Append("}\n");
    }

    private static string DnatRule(Core.Networks.ProxyNat r)
    {
        var v6 = IPAddress.Parse(r.TargetAddress).AddressFamily == AddressFamily.InterNetworkV6;
        var family = v6 ? "ip6" : "ip";
        var listen = IPAddress.Parse(r.ListenAddress);
        // A wildcard listen address means every local address of the namespace.
        var match = listen.Equals(IPAddress.Any) || listen.Equals(IPAddress.IPv6Any) ? "fib daddr type local" : $"{family} daddr {listen}";
        var target = v6 ? $"[{r.TargetAddress}]:{r.TargetPort}" : $"{r.TargetAddress}:{r.TargetPort}";
        return string.Create(CultureInfo.InvariantCulture, $"meta nfproto {(v6 ? "ipv6" : "ipv4")} {match} {r.Protocol} dport {r.ListenPort} dnat {family} to {target}");
    }
}
