using System.Net.Sockets;

namespace Hyperlxd.Api;

/// <summary>HTTP over the daemon's unix socket (<c>http://unix.socket/...</c>), for every client in the tree.</summary>
public static class UnixSocketTransport
{
    public static readonly Uri BaseAddress = new("http://unix.socket");

    public static SocketsHttpHandler CreateHandler(string socketPath) => new()
    {
        ConnectCallback = async (_, ct) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                // A missing socket file surfaces as a misleading "Cannot assign requested address".
                throw new IOException(File.Exists(socketPath)
                    ? $"unix socket {socketPath}: {e.Message}"
                    : $"unix socket {socketPath} does not exist (is hyperlxd running?)", e);
            }
        },
    };
}
