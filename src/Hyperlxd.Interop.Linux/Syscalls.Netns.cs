using System.Runtime.InteropServices;
using static Tmds.Linux.LibC;

namespace Hyperlxd.Interop.Linux;

/// <summary>
/// Network namespaces and netlink sockets. setns(CLONE_NEWNET) is the one namespace switch the C# side
/// makes, and only on a short-lived dedicated thread (<see cref="Netlink.RtNetlink.OpenIn"/>): a socket
/// stays in the namespace it was created in, the thread then exits.
/// </summary>
public static unsafe partial class Syscalls
{
    internal const int NETLINK_ROUTE = 0, SOL_NETLINK = 270, NETLINK_CAP_ACK = 10, NETLINK_EXT_ACK = 11;

    /// <summary>Moves the calling thread into the network namespace <paramref name="netns"/> (an open ns file).</summary>
    internal static void SetNetworkNamespace(SafeHandle netns, string what)
    {
        using var use = new FdUse(netns);
        Errno.Check(setns(use.Fd, CLONE_NEWNET), "setns " + what);
    }

    /// <summary>A NETLINK_ROUTE socket, close-on-exec, bound with a kernel-chosen port id, with capped and extended acks.</summary>
    internal static SafeFdHandle NetlinkRouteSocket()
    {
        var fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
        {
            throw Errno.Throw("socket AF_NETLINK");
        }
        var handle = new SafeFdHandle(fd);
        try
        {
            var addr = new SockaddrNl { Family = (ushort)AF_NETLINK };
            Errno.Check(bind(fd, (Tmds.Linux.sockaddr*)&addr, sizeof(SockaddrNl)), "bind AF_NETLINK");
            int one = 1;
            // Best effort (old kernels lack them): errors without the echoed request, with the kernel's message.
            _ = setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(int));
            _ = setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(int));
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>send(2) of one whole datagram, EINTR retried.</summary>
    internal static void SendDatagram(SafeHandle sock, ReadOnlySpan<byte> data, string what)
    {
        using var use = new FdUse(sock);
        fixed (byte* b = data)
        {
            while (true)
            {
                var n = send(use.Fd, b, data.Length, 0);
                if (n >= 0)
                {
                    return;
                }
                if (Errno.Last != EINTR)
                {
                    throw Errno.Throw("send " + what);
                }
            }
        }
    }

    /// <summary>recv(2) of one datagram, EINTR retried; a datagram larger than <paramref name="buffer"/> throws (MSG_TRUNC).</summary>
    internal static int ReceiveDatagram(SafeHandle sock, Span<byte> buffer, string what)
    {
        using var use = new FdUse(sock);
        fixed (byte* b = buffer)
        {
            while (true)
            {
                var n = recv(use.Fd, b, buffer.Length, MSG_TRUNC);
                if (n > buffer.Length)
                {
                    throw Errno.Exception(ENOBUFS, "recv " + what + " (datagram truncated)");
                }
                if (n >= 0)
                {
                    return (int)n;
                }
                if (Errno.Last != EINTR)
                {
                    throw Errno.Throw("recv " + what);
                }
            }
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct SockaddrNl
    {
        public ushort Family;
        public ushort Pad;
        public uint Pid;
        public uint Groups;
    }
}
