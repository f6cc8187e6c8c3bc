using System.Net.Sockets;

namespace Hyperlxd.Tests.Infrastructure;

/// <summary>
/// Sockets of the test process inside a named network namespace (<c>/run/netns/NAME</c>): made on a
/// short-lived thread of its own that setns()es there (a socket stays in the namespace it was made
/// in), so an HttpClient in the test reaches a daemon's 127.0.0.1 inside its namespace.
/// </summary>
public static class NetnsSocket
{
    public static Socket Create(string netns, AddressFamily family, SocketType type, ProtocolType protocol)
    {
        Socket? socket = null;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var ns = File.OpenHandle($"/run/netns/{netns}");
                if (Tmds.Linux.LibC.setns((int)ns.DangerousGetHandle(), Tmds.Linux.LibC.CLONE_NEWNET) != 0)
                {
                    throw new IOException($"setns into {netns} failed");
                }
                socket = new Socket(family, type, protocol);
            }
            catch (Exception e) when (e is IOException or SocketException or UnauthorizedAccessException)
            {
                error = e;
            }
        });
        thread.Start();
        thread.Join();
        return socket ?? throw new IOException($"no socket in network namespace {netns}", error);
    }

    /// <summary>Makes <paramref name="handler"/> connect from inside <paramref name="netns"/> (null: from the host).</summary>
    public static SocketsHttpHandler ConnectingIn(this SocketsHttpHandler handler, string? netns)
    {
        if (netns is not null)
        {
            handler.ConnectCallback = async (context, cancel) =>
            {
                var socket = Create(netns, AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    await socket.ConnectAsync(context.DnsEndPoint, cancel);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }
        return handler;
    }
}
