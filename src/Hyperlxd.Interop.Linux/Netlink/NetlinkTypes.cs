using System.Globalization;
using System.Net;

namespace Hyperlxd.Interop.Linux.Netlink;

/// <summary>A MAC address (6 bytes), as LXD writes it: lower-case, colon-separated.</summary>
public sealed record PhysicalAddress(byte[] Bytes)
{
    /// <summary>Six hex pairs separated by ':' or '-' (either case); anything else is a <see cref="FormatException"/>.</summary>
    public static PhysicalAddress Parse(string s) =>
        TryParse(s, out var a) ? a : throw new FormatException($"\"{s}\" is not a MAC address (expected six hex pairs like 00:16:3e:12:34:56)");

    public static bool TryParse(string? s, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PhysicalAddress? address)
    {
        address = null;
        if (s is null || s.Length != 17)
        {
            return false;
        }
        var sep = s[2];
        if (sep is not (':' or '-'))
        {
            return false;
        }
        var bytes = new byte[6];
        for (var i = 0; i < 6; i++)
        {
            if ((i < 5 && s[(i * 3) + 2] != sep)
                || !byte.TryParse(s.AsSpan(i * 3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out bytes[i]))
            {
                return false;
            }
        }
        address = new PhysicalAddress(bytes);
        return true;
    }

    public override string ToString() => string.Join(':', Bytes.Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));

    // Value equality on the bytes (a record compares the array reference otherwise).
    public bool Equals(PhysicalAddress? other) => other is not null && Bytes.AsSpan().SequenceEqual(other.Bytes);

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.AddBytes(Bytes);
        return h.ToHashCode();
    }
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
