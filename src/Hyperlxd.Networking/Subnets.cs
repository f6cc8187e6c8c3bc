using System.Net;
using System.Net.Sockets;

namespace Hyperlxd.Networking;

/// <summary>Subnet arithmetic and the choice of a free subnet for <c>auto</c>, from what is known to be in use (never by probing).</summary>
public static class Subnets
{
    /// <summary>A gateway address with its prefix ("10.1.2.1/24") → the address and its network.</summary>
    public static bool TryParseCidr(string value, AddressFamily family, out IPAddress address, out IPNetwork network)
    {
        address = IPAddress.None;
        network = default;
        var slash = value.IndexOf('/');
        if (slash <= 0 || !IPAddress.TryParse(value[..slash], out var a) || a.AddressFamily != family
            || !int.TryParse(value[(slash + 1)..], out var len) || len < 1 || len > (family == AddressFamily.InterNetwork ? 30 : 126))
        {
            return false;
        }
        address = a;
        network = new IPNetwork(Mask(a, len), len);
        return !address.Equals(network.BaseAddress) && (family != AddressFamily.InterNetwork || !address.Equals(Broadcast(network)));
    }

    public static bool Overlaps(IPNetwork a, IPNetwork b) =>
        a.BaseAddress.AddressFamily == b.BaseAddress.AddressFamily && (a.Contains(b.BaseAddress) || b.Contains(a.BaseAddress));

    public static IPAddress Mask(IPAddress address, int prefixLength)
    {
        var bytes = address.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
        {
            var bits = Math.Clamp(prefixLength - (i * 8), 0, 8);
            bytes[i] &= (byte)(0xff << (8 - bits));
        }
        return new IPAddress(bytes);
    }

    public static IPAddress Broadcast(IPNetwork net)
    {
        var bytes = net.BaseAddress.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
        {
            var bits = Math.Clamp(net.PrefixLength - (i * 8), 0, 8);
            bytes[i] |= (byte)~(0xff << (8 - bits));
        }
        return new IPAddress(bytes);
    }

    /// <summary><paramref name="address"/> + <paramref name="delta"/> (IPv4 only).</summary>
    public static IPAddress Add(IPAddress address, long delta)
    {
        var bytes = address.GetAddressBytes();
        var n = ((long)bytes[0] << 24 | (long)bytes[1] << 16 | (long)bytes[2] << 8 | bytes[3]) + delta;
        return new IPAddress(new[] { (byte)(n >> 24), (byte)(n >> 16), (byte)(n >> 8), (byte)n });
    }

    public static long ToLong(IPAddress a)
    {
        var b = a.GetAddressBytes();
        return (long)b[0] << 24 | (long)b[1] << 16 | (long)b[2] << 8 | b[3];
    }

    public static string Netmask(int prefixLength, AddressFamily family) =>
        family == AddressFamily.InterNetwork ? Mask(IPAddress.Broadcast, prefixLength).ToString() : prefixLength.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// A free 10.x.y.0/24, as LXD's <c>auto</c>: random candidates (so two hosts rarely pick the same),
    /// checked against every subnet in use; then a sweep. The gateway is .1.
    /// </summary>
    public static string PickIPv4(IReadOnlyCollection<IPNetwork> used, Random random)
    {
        bool Free(IPNetwork n) => !used.Any(u => Overlaps(u, n));
        for (var i = 0; i < 100; i++)
        {
            var n = new IPNetwork(new IPAddress(new byte[] { 10, (byte)random.Next(0, 256), (byte)random.Next(0, 256), 0 }), 24);
            if (Free(n))
            {
                return $"10.{n.BaseAddress.GetAddressBytes()[1]}.{n.BaseAddress.GetAddressBytes()[2]}.1/24";
            }
        }
        for (var x = 0; x < 256; x++)
        {
            for (var y = 0; y < 256; y++)
            {
                if (Free(new IPNetwork(new IPAddress(new byte[] { 10, (byte)x, (byte)y, 0 }), 24)))
                {
                    return $"10.{x}.{y}.1/24";
                }
            }
        }
        throw new Core.BadRequestException("Failed to automatically find an unused IPv4 subnet, manual configuration required");
    }

    /// <summary>A free fd42:xxxx:xxxx:xxxx::/64 ULA (gateway ::1), random as LXD's.</summary>
    public static string PickIPv6(IReadOnlyCollection<IPNetwork> used, Random random)
    {
        for (var i = 0; i < 100; i++)
        {
            var bytes = new byte[16];
            bytes[0] = 0xfd;
            bytes[1] = 0x42;
            random.NextBytes(bytes.AsSpan(2, 6));
            var n = new IPNetwork(new IPAddress(bytes), 64);
            if (!used.Any(u => Overlaps(u, n)))
            {
                bytes[15] = 1;
                return $"{new IPAddress(bytes)}/64";
            }
        }
        throw new Core.BadRequestException("Failed to automatically find an unused IPv6 subnet, manual configuration required");
    }
}
