using System.Runtime.InteropServices;
using System.Text;

namespace Hyperlxd.Interop.Linux.Netlink;

/// <summary>
/// One netlink request being built: the 16-byte nlmsghdr, a family header (ifinfomsg, ifaddrmsg, rtmsg)
/// and attributes, each padded to 4 bytes; nested attributes get their length when closed.
/// Host byte order throughout, as netlink wants.
/// </summary>
internal sealed class NetlinkMessage
{
    internal const int HeaderLength = 16;

    private byte[] _buf = new byte[256];
    private int _len;

    public NetlinkMessage(ushort type, ushort flags)
    {
        _len = HeaderLength;
        MemoryMarshal.Write(_buf.AsSpan(4), type);
        MemoryMarshal.Write(_buf.AsSpan(6), flags);
    }

    public static int Align(int n) => (n + 3) & ~3;

    /// <summary>The finished message with its length and sequence number.</summary>
    public ReadOnlySpan<byte> Finish(uint seq)
    {
        MemoryMarshal.Write(_buf.AsSpan(0), (uint)_len);
        MemoryMarshal.Write(_buf.AsSpan(8), seq);
        return _buf.AsSpan(0, _len);
    }

    /// <summary>struct ifinfomsg (16 bytes).</summary>
    public NetlinkMessage IfInfo(int index = 0, uint flags = 0, uint change = 0, byte family = 0)
    {
        var s = Reserve(16);
        s[0] = family;
        MemoryMarshal.Write(s[4..], index);
        MemoryMarshal.Write(s[8..], flags);
        MemoryMarshal.Write(s[12..], change);
        return this;
    }

    /// <summary>struct ifaddrmsg (8 bytes).</summary>
    public NetlinkMessage IfAddr(byte family, byte prefixLength = 0, byte scope = 0, int index = 0)
    {
        var s = Reserve(8);
        s[0] = family;
        s[1] = prefixLength;
        s[3] = scope;
        MemoryMarshal.Write(s[4..], index);
        return this;
    }

    /// <summary>struct rtmsg (12 bytes).</summary>
    public NetlinkMessage RtMsg(byte family, byte dstLength = 0, byte table = 0, byte protocol = 0, byte scope = 0, byte type = 0)
    {
        var s = Reserve(12);
        s[0] = family;
        s[1] = dstLength;
        s[4] = table;
        s[5] = protocol;
        s[6] = scope;
        s[7] = type;
        return this;
    }

    public NetlinkMessage Attr(ushort type, ReadOnlySpan<byte> data)
    {
        var s = Reserve(4 + data.Length);
        MemoryMarshal.Write(s, (ushort)(4 + data.Length));
        MemoryMarshal.Write(s[2..], type);
        data.CopyTo(s[4..]);
        return this;
    }

    public NetlinkMessage U32(ushort type, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        MemoryMarshal.Write(b, value);
        return Attr(type, b);
    }

    public NetlinkMessage U32(ushort type, int value) => U32(type, (uint)value);

    /// <summary>A NUL-terminated string attribute.</summary>
    public NetlinkMessage String(ushort type, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value + "\0");
        return Attr(type, bytes);
    }

    /// <summary>Opens a nested attribute; its offset, for <see cref="EndNested"/>.</summary>
    public int BeginNested(ushort type)
    {
        var start = _len;
        var s = Reserve(4);
        MemoryMarshal.Write(s[2..], type);
        return start;
    }

    public NetlinkMessage EndNested(int start)
    {
        MemoryMarshal.Write(_buf.AsSpan(start), (ushort)(_len - start));
        return this;
    }

    /// <summary><paramref name="n"/> zeroed bytes at the end (the message grows by n rounded up to 4).</summary>
    private Span<byte> Reserve(int n)
    {
        var aligned = Align(n);
        if (_len + aligned > _buf.Length)
        {
            Array.Resize(ref _buf, Math.Max(_buf.Length * 2, _len + aligned));
        }
        var s = _buf.AsSpan(_len, aligned);
        s.Clear();
        _len += aligned;
        return s[..n];
    }
}

/// <summary>Walks the rtattr/nlattr list of a message body (the type without NLA_F_NESTED/NLA_F_NET_BYTEORDER).</summary>
internal ref struct NetlinkAttributes
{
    private ReadOnlySpan<byte> _rest;

    public NetlinkAttributes(ReadOnlySpan<byte> attributes) => _rest = attributes;

    public ushort Type { get; private set; }

    public ReadOnlySpan<byte> Data { get; private set; }

    public bool Next()
    {
        if (_rest.Length < 4)
        {
            return false;
        }
        var len = MemoryMarshal.Read<ushort>(_rest);
        if (len < 4 || len > _rest.Length)
        {
            return false;
        }
        Type = (ushort)(MemoryMarshal.Read<ushort>(_rest[2..]) & 0x3FFF);
        Data = _rest[4..len];
        var next = NetlinkMessage.Align(len);
        _rest = next >= _rest.Length ? default : _rest[next..];
        return true;
    }

    public readonly uint U32 => Data.Length >= 4 ? MemoryMarshal.Read<uint>(Data) : 0;

    /// <summary>The string up to its NUL.</summary>
    public readonly string String
    {
        get
        {
            var nul = Data.IndexOf((byte)0);
            return Encoding.UTF8.GetString(nul >= 0 ? Data[..nul] : Data);
        }
    }

    /// <summary>An attribute of <paramref name="type"/> in a nested attribute's data; empty when absent.</summary>
    public static ReadOnlySpan<byte> Find(ReadOnlySpan<byte> attributes, ushort type)
    {
        var a = new NetlinkAttributes(attributes);
        while (a.Next())
        {
            if (a.Type == type)
            {
                return a.Data;
            }
        }
        return default;
    }

    public static ulong U64(ReadOnlySpan<byte> data, int index) =>
        data.Length >= (index + 1) * 8 ? MemoryMarshal.Read<ulong>(data[(index * 8)..]) : 0;
}
