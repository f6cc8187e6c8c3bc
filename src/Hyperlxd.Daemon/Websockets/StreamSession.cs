using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Hyperlxd.Core;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Websockets;

/// <summary>
/// The websockets of one operation (exec, console): one secret per fd, as LXD hands them out in
/// <c>metadata.fds</c>. A client connects each with <c>/1.0/operations/{id}/websocket?secret=</c>;
/// the HTTP request then stays open until the session is done with that socket.
/// </summary>
public sealed class StreamSession
{
    private readonly Dictionary<string, string> _secrets;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<WebSocket>> _connected = new();
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<string, Task> _readers = new();

    /// <summary>How long a finished socket waits for the client's close frame before its connection goes.</summary>
    private static readonly TimeSpan Linger = TimeSpan.FromSeconds(2);

    public StreamSession(IEnumerable<string> fds)
    {
        _secrets = fds.ToDictionary(fd => fd, _ => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)));
        foreach (var fd in _secrets.Keys)
        {
            _connected[fd] = new TaskCompletionSource<WebSocket>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>fd → secret, for the operation's metadata.</summary>
    public Dictionary<string, string> Fds => new(_secrets);

    public async Task ConnectAsync(HttpContext ctx, string secret)
    {
        var fd = _secrets.FirstOrDefault(kv => CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(kv.Value), Encoding.UTF8.GetBytes(secret))).Key
            ?? throw new ForbiddenException("Invalid websocket secret");
        if (!ctx.WebSockets.IsWebSocketRequest)
        {
            throw new BadRequestException("This endpoint needs a websocket upgrade");
        }
        if (_connected[fd].Task.IsCompleted || _finished.Task.IsCompleted)
        {
            throw new BadRequestException($"The websocket for fd {fd} is already connected or the operation is over");
        }
        var ws = await ctx.WebSockets.AcceptWebSocketAsync();
        _connected[fd].TrySetResult(ws);
        await _finished.Task;
        // Finish the close handshake before the connection goes: clients (pylxd's ws4py) answer our
        // close frame, and writing that answer into a connection we already dropped fails for them.
        try
        {
            using var linger = new CancellationTokenSource(Linger);
            if (_readers.TryGetValue(fd, out var reader))
            {
                await reader.WaitAsync(linger.Token); // it reads until the client's barrier or close
            }
            if (ws.State == WebSocketState.CloseSent)
            {
                var buffer = new byte[1024];
                while ((await ws.ReceiveAsync(buffer, linger.Token)).MessageType != WebSocketMessageType.Close)
                {
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Names the task that reads <paramref name="fd"/> until the client closes it (nobody else may read it).</summary>
    public void Reading(string fd, Task reader) => _readers[fd] = reader;

    /// <summary>Waits until every fd in <paramref name="fds"/> has a socket; throws when they do not come in time.</summary>
    public async Task WaitAsync(IEnumerable<string> fds, TimeSpan timeout, CancellationToken ct)
    {
        try
        {
            await Task.WhenAll(fds.Select(fd => _connected[fd].Task)).WaitAsync(timeout, ct);
        }
        catch (TimeoutException)
        {
            throw new BadRequestException("Timed out waiting for the websockets to connect");
        }
    }

    public WebSocket? Socket(string fd) => _connected.TryGetValue(fd, out var t) && t.Task.IsCompletedSuccessfully ? t.Task.Result : null;

    public Task<WebSocket> SocketAsync(string fd) => _connected[fd].Task;

    /// <summary>Closes every connected socket and releases the HTTP requests that carry them.</summary>
    public async Task FinishAsync()
    {
        foreach (var t in _connected.Values)
        {
            if (t.Task.IsCompletedSuccessfully && t.Task.Result.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                try
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                    await t.Task.Result.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
                }
                catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
                {
                }
            }
            t.TrySetCanceled();
        }
        _finished.TrySetResult();
    }
}

/// <summary>The open stream sessions by operation id, for the websocket endpoint.</summary>
public sealed class StreamSessions
{
    private readonly ConcurrentDictionary<string, StreamSession> _sessions = new();

    public void Add(string operationId, StreamSession session) => _sessions[operationId] = session;

    public void Remove(string operationId) => _sessions.TryRemove(operationId, out _);

    public StreamSession? Find(string operationId) => _sessions.GetValueOrDefault(operationId);
}

/// <summary>LXD's websocket stream framing: data in binary frames, end of stream as an empty text frame (the barrier).</summary>
public static class Pump
{
    public static async Task StreamToSocketAsync(Stream source, WebSocket ws, CancellationToken ct)
    {
        var buffer = new byte[32768];
        try
        {
            int n;
            while ((n = await source.ReadAsync(buffer, ct)) > 0)
            {
                await ws.SendAsync(buffer.AsMemory(0, n), WebSocketMessageType.Binary, true, ct);
            }
        }
        catch (IOException)
        {
            // A pty master reads EIO once the last slave holder is gone: that is its end of stream.
        }
        // The barrier, then the close (lxd-api-5.0.2.md: "close the data sockets after the barrier"):
        // the client's reader ends now, not when the whole operation is torn down.
        try
        {
            if (ws.State == WebSocketState.Open)
            {
                await ws.SendAsync(ReadOnlyMemory<byte>.Empty, WebSocketMessageType.Text, true, ct);
            }
            if (ws.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, ct);
            }
        }
        catch (WebSocketException)
        {
            // The client went away first.
        }
    }

    /// <summary>Copies binary frames into <paramref name="target"/> until a barrier, a close or a broken socket.</summary>
    public static async Task SocketToStreamAsync(WebSocket ws, Stream target, bool closeTarget, CancellationToken ct)
    {
        var buffer = new byte[32768];
        try
        {
            while (true)
            {
                var r = await ws.ReceiveAsync(buffer, ct);
                if (r.MessageType != WebSocketMessageType.Binary)
                {
                    break;
                }
                await target.WriteAsync(buffer.AsMemory(0, r.Count), ct);
                await target.FlushAsync(ct);
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            if (closeTarget)
            {
                await target.DisposeAsync();
            }
        }
    }
}
