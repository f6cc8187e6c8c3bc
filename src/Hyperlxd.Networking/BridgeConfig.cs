using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Devices;

namespace Hyperlxd.Networking;

/// <summary>
/// A managed bridge's config as LXD 5.0.2 names it: key checks (a 400 naming network and key), the
/// defaults a create fills in, and typed reads for the parts that apply it.
/// </summary>
public sealed class BridgeConfig
{
    private static readonly Dictionary<string, Func<string, string?>> Keys = new()
    {
        ["ipv4.address"] = v => v is "auto" or "none" || Subnets.TryParseCidr(v, AddressFamily.InterNetwork, out _, out _) ? null : "Not a usable IPv4 address in CIDR notation (e.g. 10.0.0.1/24), \"auto\" or \"none\"",
        ["ipv4.nat"] = Bool,
        ["ipv4.dhcp"] = Bool,
        ["ipv4.dhcp.ranges"] = v => ParseRanges(v) is null ? "Not a comma-separated list of IPv4 ranges (START-END)" : null,
        ["ipv4.routing"] = Bool,
        ["ipv6.address"] = v => v is "auto" or "none" || Subnets.TryParseCidr(v, AddressFamily.InterNetworkV6, out _, out _) ? null : "Not a usable IPv6 address in CIDR notation (e.g. fd42::1/64), \"auto\" or \"none\"",
        ["ipv6.nat"] = Bool,
        ["ipv6.dhcp"] = Bool,
        ["dns.domain"] = v => v.Length > 0 && v.Split('.').All(l => l.Length is > 0 and < 64 && l.All(c => char.IsAsciiLetterOrDigit(c) || c == '-')) ? null : "Not a valid DNS domain",
        ["dns.mode"] = v => v is "managed" or "dynamic" or "none" ? null : "Must be one of: managed, dynamic, none",
        ["bridge.mtu"] = v => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var m) && m is >= 1280 and <= 65535 ? null : "Not an MTU between 1280 and 65535",
        ["bridge.hwaddr"] = v => TryParseMac(v) is not null ? null : "Not a MAC address (xx:xx:xx:xx:xx:xx)",
    };

    private static string? Bool(string v) => LxdBool.IsValid(v) ? null : "Not a boolean";

    private readonly IReadOnlyDictionary<string, string> _config;

    public BridgeConfig(IReadOnlyDictionary<string, string> config) => _config = config;

    /// <summary>The name as LXD checks it: a valid kernel interface name that cannot be confused with a path or an option.</summary>
    public static void ValidateName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new BadRequestException("No name provided");
        }
        if (!DeviceTypes.IsInterfaceName(name) || name.StartsWith('-') || name == "none")
        {
            throw new BadRequestException($"Network name \"{name}\" is not a valid interface name (1-15 characters, no '/', ':' or whitespace)");
        }
    }

    /// <summary>Each key known and each value well-formed; a 400 naming the network and the key.</summary>
    public static void Validate(string network, IReadOnlyDictionary<string, string> config)
    {
        foreach (var (key, value) in config)
        {
            if (key.StartsWith("user.", StringComparison.Ordinal))
            {
                continue;
            }
            if (!Keys.TryGetValue(key, out var check))
            {
                throw new BadRequestException($"Invalid option for network \"{network}\" option \"{key}\"");
            }
            if (value.Length > 0 && check(value) is { } problem)
            {
                throw new BadRequestException($"Invalid value for network \"{network}\" option \"{key}\": {problem}");
            }
        }
        var cfg = new BridgeConfig(config);
        if (config.ContainsKey("ipv4.dhcp.ranges") && cfg.IPv4 is { } v4)
        {
            foreach (var (start, end) in cfg.DhcpRanges ?? [])
            {
                if (!v4.Network.Contains(start) || !v4.Network.Contains(end) || Subnets.ToLong(start) > Subnets.ToLong(end))
                {
                    throw new BadRequestException($"Invalid value for network \"{network}\" option \"ipv4.dhcp.ranges\": range {start}-{end} is not inside {v4.Network}");
                }
            }
        }
    }

    /// <summary>What a create fills in as LXD does: auto addresses (resolved by the caller) with NAT on.</summary>
    public static Dictionary<string, string> WithDefaults(IReadOnlyDictionary<string, string> config)
    {
        var c = new Dictionary<string, string>(config);
        foreach (var family in new[] { "ipv4", "ipv6" })
        {
            if (!c.ContainsKey($"{family}.address"))
            {
                c[$"{family}.address"] = "auto";
            }
            if (c[$"{family}.address"] == "auto" && !c.ContainsKey($"{family}.nat"))
            {
                c[$"{family}.nat"] = "true";
            }
        }
        return c;
    }

    public string? this[string key] => _config.GetValueOrDefault(key) is { Length: > 0 } v ? v : null;

    public (IPAddress Gateway, IPNetwork Network)? IPv4 => Address("ipv4.address", AddressFamily.InterNetwork);

    public (IPAddress Gateway, IPNetwork Network)? IPv6 => Address("ipv6.address", AddressFamily.InterNetworkV6);

    public bool IPv4Nat => LxdBool.IsTrue(this["ipv4.nat"]);

    public bool IPv6Nat => LxdBool.IsTrue(this["ipv6.nat"]);

    public bool IPv4Dhcp => !LxdBool.IsFalse(this["ipv4.dhcp"]);

    public bool IPv6Dhcp => !LxdBool.IsFalse(this["ipv6.dhcp"]);

    public bool IPv4Routing => !LxdBool.IsFalse(this["ipv4.routing"]);

    public string DnsDomain => this["dns.domain"] ?? "lxd";

    public string DnsMode => this["dns.mode"] ?? "managed";

    public int Mtu => this["bridge.mtu"] is { } m ? int.Parse(m, CultureInfo.InvariantCulture) : 1500;

    public string? HwAddr => this["bridge.hwaddr"];

    /// <summary>The DHCP ranges: the configured ones, else everything after the gateway up to the last usable address.</summary>
    public IReadOnlyList<(IPAddress Start, IPAddress End)>? DhcpRanges =>
        this["ipv4.dhcp.ranges"] is { } r ? ParseRanges(r)
        : IPv4 is { } v4 ? [(Subnets.Add(v4.Gateway, 1), Subnets.Add(Subnets.Broadcast(v4.Network), -1))]
        : null;

    private (IPAddress, IPNetwork)? Address(string key, AddressFamily family) =>
        this[key] is { } v && Subnets.TryParseCidr(v, family, out var a, out var n) ? (a, n) : null;

    private static List<(IPAddress, IPAddress)>? ParseRanges(string value)
    {
        var list = new List<(IPAddress, IPAddress)>();
        foreach (var part in value.Split(',', StringSplitOptions.TrimEntries))
        {
            var ends = part.Split('-', StringSplitOptions.TrimEntries);
            if (ends.Length != 2 || !IPAddress.TryParse(ends[0], out var s) || !IPAddress.TryParse(ends[1], out var e)
                || s.AddressFamily != AddressFamily.InterNetwork || e.AddressFamily != AddressFamily.InterNetwork)
            {
                return null;
            }
            list.Add((s, e));
        }
        return list;
    }

    internal static byte[]? TryParseMac(string value)
    {
        var parts = value.Split(':');
        if (parts.Length != 6)
        {
            return null;
        }
        var bytes = new byte[6];
        for (var i = 0; i < 6; i++)
        {
            if (parts[i].Length != 2 || !byte.TryParse(parts[i], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out bytes[i]))
            {
                return null;
            }
        }
        return bytes;
    }
}
