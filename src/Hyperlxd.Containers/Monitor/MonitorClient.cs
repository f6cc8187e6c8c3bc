using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Containers.Monitor;

/// <summary>One <c>status</c> line of hyperlxd-monitor (socket reply or state file).</summary>
internal sealed record MonitorStatus(bool Running, int InitPid, int MonitorPid, ExitInfo? Exit)
{
    public static MonitorStatus Parse(string line, DateTimeOffset at)
    {
        var f = new Dictionary<string, string>();
        foreach (var part in line.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=');
            if (eq > 0)
            {
                f[part[..eq]] = part[(eq + 1)..];
            }
        }
        int Int(string k) => f.TryGetValue(k, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : 0;
        var running = f.GetValueOrDefault("state") == "running";
        var exit = running || !f.TryGetValue("reason", out var reason) ? null : new ExitInfo(Int("exit_code"), Int("exit_signal"), reason, at);
        return new MonitorStatus(running, Int("init_pid"), Int("monitor_pid"), exit);
    }
}

/// <summary>The line protocol of hyperlxd-monitor over its unix socket (see native-shims/README.md).</summary>
internal static class MonitorClient
{
    public static async Task<Socket?> TryConnectAsync(string socketPath, CancellationToken ct)
    {
        if (!File.Exists(socketPath))
        {
            return null;
        }
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await s.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
            return s;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable)
        {
            s.Dispose();
            return null; // the monitor is gone (stale socket file)
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <summary>Sends one request and returns the first reply line (without "ok "), or null when the monitor is gone.</summary>
    public static async Task<string?> RequestAsync(string socketPath, string request, CancellationToken ct)
    {
        // The monitor is single-threaded with a small backlog: bound our concurrency, retry a reset.
        // (A stop may take its whole timeout and a wait the container's whole run: they hold no slot.)
        var gated = !request.StartsWith("stop", StringComparison.Ordinal) && request != "wait";
        if (gated)
        {
            await Gate.WaitAsync(ct);
        }
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    using var s = await TryConnectAsync(socketPath, ct);
                    if (s is null)
                    {
                        return null;
                    }
                    await SendAsync(s, request, ct);
                    return Ok(await ReadReplyAsync(s, ct), request);
                }
                // Shutdown (EPIPE): the monitor closed while we sent, e.g. init just died of a cgroup.kill; the retry finds it gone.
                catch (SocketException e) when (attempt < 50 && e.SocketErrorCode is SocketError.ConnectionReset or SocketError.TryAgain
                                                    or SocketError.WouldBlock or SocketError.Shutdown)
                {
                    await Task.Delay(5, ct);
                }
                catch (EndOfStreamException)
                {
                    return null; // exited while answering
                }
            }
        }
        finally
        {
            if (gated)
            {
                Gate.Release();
            }
        }
    }

    private static readonly SemaphoreSlim Gate = new(8);

    public static async Task SendAsync(Socket s, string request, CancellationToken ct) =>
        await s.SendAsync(Encoding.ASCII.GetBytes(request + "\n"), SocketFlags.None, ct);

    /// <summary>The first line of a reply on a connection used for nothing else (read in chunks: what follows is dropped).</summary>
    private static async Task<string> ReadReplyAsync(Socket s, CancellationToken ct)
    {
        var buffer = new byte[512];
        var used = 0;
        while (true)
        {
            var end = Array.IndexOf(buffer, (byte)'\n', 0, used);
            if (end >= 0)
            {
                return Encoding.ASCII.GetString(buffer, 0, end);
            }
            if (used == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
            }
            var n = await s.ReceiveAsync(buffer.AsMemory(used), SocketFlags.None, ct);
            if (n == 0)
            {
                throw new EndOfStreamException("monitor closed the connection");
            }
            used += n;
        }
    }

    /// <summary>Reads one line byte by byte (nothing past it: raw bytes may follow).</summary>
    public static async Task<string> ReadLineAsync(Socket s, CancellationToken ct)
    {
        var sb = new StringBuilder();
        var b = new byte[1];
        while (true)
        {
            var n = await s.ReceiveAsync(b, SocketFlags.None, ct);
            if (n == 0)
            {
                throw new EndOfStreamException("monitor closed the connection");
            }
            if (b[0] == '\n')
            {
                return sb.ToString();
            }
            sb.Append((char)b[0]);
        }
    }

    public static string Ok(string reply, string request)
    {
        if (reply == "ok")
        {
            return "";
        }
        if (reply.StartsWith("ok ", StringComparison.Ordinal))
        {
            return reply[3..];
        }
        var parts = reply.Split(' ', 3);
        var message = parts.Length == 3 ? parts[2] : reply;
        if (parts.Length >= 2 && parts[1] == "3")
        {
            throw new BadRequestException("The instance isn't running");
        }
        if (parts.Length >= 2 && parts[1] == "16")
        {
            throw new ConflictException("The console is already in use");
        }
        throw new InvalidOperationException($"Monitor request \"{request}\" failed: {message}");
    }

    public static async Task<byte[]> ConsoleLogAsync(string socketPath, CancellationToken ct)
    {
        using var s = await TryConnectAsync(socketPath, ct);
        if (s is null)
        {
            return Array.Empty<byte>();
        }
        await SendAsync(s, "console-log", ct);
        var len = int.Parse(Ok(await ReadLineAsync(s, ct), "console-log"), CultureInfo.InvariantCulture);
        var buf = new byte[len];
        var got = 0;
        while (got < len)
        {
            var n = await s.ReceiveAsync(buf.AsMemory(got), SocketFlags.None, ct);
            if (n == 0)
            {
                break;
            }
            got += n;
        }
        return buf[..got];
    }

    /// <summary>A raw two-way console stream (<c>console-stream</c>).</summary>
    public static async Task<Stream> ConsoleStreamAsync(string socketPath, CancellationToken ct)
    {
        var s = await TryConnectAsync(socketPath, ct) ?? throw new BadRequestException("The instance isn't running");
        try
        {
            await SendAsync(s, "console-stream", ct);
            Ok(await ReadLineAsync(s, ct), "console-stream");
            return new NetworkStream(s, ownsSocket: true);
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }
}
