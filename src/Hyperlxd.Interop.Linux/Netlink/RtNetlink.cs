using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Linux.Netlink;

/// <summary>
/// An rtnetlink (NETLINK_ROUTE) socket: links, addresses and routes without an <c>ip</c> process (which
/// costs ~10 ms a call here). One request at a time per instance (requests are serialised inside); every
/// failing request throws <see cref="ErrnoException"/> naming the operation and the link.
/// Partial by concern: the socket and its request/reply exchange here; links, addresses and routes in
/// their own files.
/// </summary>
public sealed partial class RtNetlink : IDisposable
{
    // <linux/netlink.h>
    private const ushort NLMSG_NOOP = 1, NLMSG_ERROR = 2, NLMSG_DONE = 3;
    private const ushort NLM_F_REQUEST = 0x1, NLM_F_MULTI = 0x2, NLM_F_ACK = 0x4, NLM_F_DUMP_INTR = 0x10;
    private const ushort NLM_F_DUMP = 0x300, NLM_F_REPLACE = 0x100, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400;
    private const ushort NLM_F_CAPPED = 0x100, NLM_F_ACK_TLVS = 0x200; // on NLMSG_ERROR replies
    private const ushort NLMSGERR_ATTR_MSG = 1;

    // A dump datagram is at most ~32 KiB (the kernel sizes them from the reader's buffer, capped).
    private const int ReceiveBufferSize = 64 * 1024;

    private readonly SafeFdHandle _socket;
    private readonly Lock _gate = new();
    private readonly byte[] _receive = GC.AllocateUninitializedArray<byte>(ReceiveBufferSize);
    private uint _seq = (uint)Environment.TickCount;

    private RtNetlink(SafeFdHandle socket) => _socket = socket;

    /// <summary>What a reply message (other than an ack) is handed to: its type and body (after the nlmsghdr).</summary>
    private delegate void ReplyHandler(ushort type, ReadOnlySpan<byte> body);

    /// <summary>A socket in the calling process's network namespace.</summary>
    public static RtNetlink Open() => new(Syscalls.NetlinkRouteSocket());

    /// <summary>
    /// A socket bound to the network namespace at <paramref name="netnsPath"/> (e.g. <c>/proc/PID/ns/net</c>,
    /// <c>/run/netns/NAME</c>): made on a dedicated thread that setns()es there and back (<see cref="NetnsOpener"/>),
    /// so no other thread of this process ever changes namespace.
    /// </summary>
    public static RtNetlink OpenIn(string netnsPath) => new(NetnsOpener.Open(netnsPath, Syscalls.NetlinkRouteSocket));

    public void Dispose() => _socket.Dispose();

    /// <summary>The kernel's answer to a request: 0 or an errno, with the kernel's explanation when it gave one (extended ack).</summary>
    private readonly record struct Ack(int Errno, string? Message)
    {
        public bool Ok => Errno == 0;

        /// <summary>Throws unless the request succeeded, naming <paramref name="what"/> (operation and link).</summary>
        public void Check(string what)
        {
            if (Errno != 0)
            {
                throw Fail(what);
            }
        }

        public ErrnoException Fail(string what) => Linux.Errno.Exception(Errno, Message is null ? what : $"{what} ({Message})");
    }

    /// <summary>Sends a request with NLM_F_ACK and reads up to its ack; replies before it go to <paramref name="onReply"/>.</summary>
    private Ack Request(NetlinkMessage message, string what, ReplyHandler? onReply = null) =>
        Exchange(message, what, onReply);

    /// <summary>A dump (NLM_F_DUMP): every reply to <paramref name="onReply"/>; restarted (after <paramref name="reset"/>) when the kernel says the set changed meanwhile.</summary>
    private void Dump(Func<NetlinkMessage> request, string what, Action reset, ReplyHandler onReply)
    {
        for (var attempt = 0; ; attempt++)
        {
            var ack = Exchange(request(), what, onReply);
            if (ack.Ok)
            {
                return;
            }
            if (ack.Errno != Tmds.Linux.LibC.EINTR || attempt >= 10)
            {
                throw ack.Fail(what);
            }
            reset();
        }
    }

    private Ack Exchange(NetlinkMessage message, string what, ReplyHandler? onReply)
    {
        lock (_gate)
        {
            var seq = ++_seq;
            Syscalls.SendDatagram(_socket, message.Finish(seq), what);
            var interrupted = false;
            while (true)
            {
                var n = Syscalls.ReceiveDatagram(_socket, _receive, what);
                var rest = _receive.AsSpan(0, n);
                while (rest.Length >= NetlinkMessage.HeaderLength)
                {
                    var len = (int)MemoryMarshal.Read<uint>(rest);
                    if (len < NetlinkMessage.HeaderLength || len > rest.Length)
                    {
                        throw Errno.Exception(Tmds.Linux.LibC.EIO, what + ": malformed netlink reply");
                    }
                    var type = MemoryMarshal.Read<ushort>(rest[4..]);
                    var flags = MemoryMarshal.Read<ushort>(rest[6..]);
                    var replySeq = MemoryMarshal.Read<uint>(rest[8..]);
                    var body = rest[NetlinkMessage.HeaderLength..len];
                    var next = NetlinkMessage.Align(len);
                    rest = next >= rest.Length ? default : rest[next..];
                    if (replySeq != seq)
                    {
                        continue; // the rest of an earlier exchange that threw midway
                    }
                    interrupted |= (flags & NLM_F_DUMP_INTR) != 0;
                    switch (type)
                    {
                        case NLMSG_ERROR:
                            var errno = -MemoryMarshal.Read<int>(body);
                            return new Ack(errno, errno != 0 ? Explanation(flags, body) : null);
                        case NLMSG_DONE:
                            var status = body.Length >= 4 ? -MemoryMarshal.Read<int>(body) : 0;
                            return new Ack(status != 0 ? status : interrupted ? Tmds.Linux.LibC.EINTR : 0, null);
                        case NLMSG_NOOP:
                            break;
                        default:
                            onReply?.Invoke(type, body);
                            break;
                    }
                }
            }
        }
    }

    /// <summary>The kernel's words for an error (extended ack NLMSGERR_ATTR_MSG), or null.</summary>
    private static string? Explanation(ushort flags, ReadOnlySpan<byte> body)
    {
        if ((flags & NLM_F_ACK_TLVS) == 0 || body.Length < 4 + NetlinkMessage.HeaderLength)
        {
            return null;
        }
        // After the error code: the request's header (all of the request unless capped), then the TLVs.
        var offset = (flags & NLM_F_CAPPED) != 0
            ? 4 + NetlinkMessage.HeaderLength
            : 4 + NetlinkMessage.Align((int)MemoryMarshal.Read<uint>(body[4..]));
        if (offset >= body.Length)
        {
            return null;
        }
        var a = new NetlinkAttributes(body[offset..]);
        while (a.Next())
        {
            if (a.Type == NLMSGERR_ATTR_MSG)
            {
                return a.String;
            }
        }
        return null;
    }

    /// <summary>A request expecting an ack, creating (exclusively) when asked.</summary>
    private static NetlinkMessage NewRequest(ushort type, bool create = false) =>
        new(type, (ushort)(NLM_F_REQUEST | NLM_F_ACK | (create ? NLM_F_CREATE | NLM_F_EXCL : 0)));

    private static NetlinkMessage NewDump(ushort type) => new(type, NLM_F_REQUEST | NLM_F_DUMP);
}
