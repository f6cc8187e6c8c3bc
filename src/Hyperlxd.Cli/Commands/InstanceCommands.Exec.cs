using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Hyperlxd.Api;
using Hyperlxd.Cli.Client;

namespace Hyperlxd.Cli.Commands;

/// <summary>
/// <c>hlx exec NAME -- CMD...</c>, non-interactive: one websocket per fd (0, 1, 2) plus control,
/// LXD's framing (binary frames carry data, an empty text frame ends a stream), and the command's
/// exit status (<c>metadata.return</c>) becomes ours.
/// </summary>
public static partial class InstanceCommands
{
    private static async Task<int> ExecAsync(CommandCall call)
    {
        var (remote, name) = Target(call, call.Args[0]);
        var command = call.Args.Skip(1).ToList();
        var body = new InstanceExecPost
        {
            Command = command,
            WaitForWebsocket = true,
            Interactive = false,
            Environment = new(),
        };
        using var client = call.Ctx.Connect(remote);
        var (op, element, url) = await client.StartOperationAsync(HttpMethod.Post, InstancePath(name) + "/exec",
            HyperlxdClient.Serialize(body, OmitNulls.InstanceExecPost));
        var fds = Secrets(element);

        var opPath = "/1.0/operations/" + Uri.EscapeDataString(op.Id) + "/websocket?secret=";
        using var cts = new CancellationTokenSource();
        var sockets = new Dictionary<string, ClientWebSocket>(StringComparer.Ordinal);
        try
        {
            // Control first (as lxc does), then the data fds: the command starts once those are connected.
            foreach (var fd in new[] { "control", "0", "1", "2" })
            {
                if (!fds.TryGetValue(fd, out var secret))
                    throw new CliException($"Invalid exec operation: no websocket for fd {fd}");
                sockets[fd] = await client.ConnectWebSocketAsync(opPath + Uri.EscapeDataString(secret), cts.Token);
            }

            var stdout = Sink(call.Ctx.RawOut, call.Ctx.Out);
            var stderr = Sink(call.Ctx.RawErr, call.Ctx.Err);
            _ = SendStdinAsync(sockets["0"], call.Ctx, cts.Token);
            var outputs = Task.WhenAll(
                ReceiveAsync(sockets["1"], stdout, cts.Token),
                ReceiveAsync(sockets["2"], stderr, cts.Token));

            var final = await client.WaitAsync(op, url);
            // Output sent before the operation ended is delivered; the daemon closes the sockets right after.
            await outputs;
            if (call.Ctx.RawOut is null)
                await call.Ctx.Out.FlushAsync();
            return ReturnCode(final.Metadata);
        }
        finally
        {
            await cts.CancelAsync();
            foreach (var ws in sockets.Values)
                ws.Dispose();
        }
    }

    /// <summary>The exec operation's <c>metadata.fds</c>: fd name → websocket secret.</summary>
    public static Dictionary<string, string> Secrets(JsonElement operation)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (operation.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object
            && metadata.TryGetProperty("fds", out var fds) && fds.ValueKind == JsonValueKind.Object)
        {
            foreach (var fd in fds.EnumerateObject())
            {
                if (fd.Value.ValueKind == JsonValueKind.String)
                    result[fd.Name] = fd.Value.GetString()!;
            }
        }

        return result;
    }

    /// <summary><c>metadata.return</c> of the finished operation (LXD's exit status; -1 if absent).</summary>
    public static int ReturnCode(JsonElement operation) =>
        operation.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object
        && metadata.TryGetProperty("return", out var ret) && ret.TryGetInt32(out var code)
            ? code
            : -1;

    private static Func<ReadOnlyMemory<byte>, Task> Sink(Stream? raw, TextWriter text)
    {
        if (raw is not null)
        {
            return async data =>
            {
                await raw.WriteAsync(data);
                await raw.FlushAsync();
            };
        }

        // In-process runs (tests) have only text writers: decode incrementally so split UTF-8 survives.
        var decoder = Encoding.UTF8.GetDecoder();
        return data =>
        {
            var chars = new char[Encoding.UTF8.GetMaxCharCount(data.Length)];
            var n = decoder.GetChars(data.Span, chars, flush: false);
            text.Write(chars, 0, n);
            return Task.CompletedTask;
        };
    }

    /// <summary>Binary frames until the end-of-stream barrier (an empty text frame) or a close.</summary>
    public static async Task ReceiveAsync(WebSocket ws, Func<ReadOnlyMemory<byte>, Task> sink, CancellationToken ct)
    {
        var buffer = new byte[32768];
        try
        {
            while (true)
            {
                var r = await ws.ReceiveAsync(buffer, ct);
                if (r.MessageType != WebSocketMessageType.Binary)
                    return;
                if (r.Count > 0)
                    await sink(buffer.AsMemory(0, r.Count));
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
            // The daemon tears the sockets down once the command is done.
        }
    }

    /// <summary>Copies our stdin to fd 0 and ends it with the barrier, so the command sees EOF.</summary>
    private static async Task SendStdinAsync(WebSocket ws, CliContext ctx, CancellationToken ct)
    {
        try
        {
            if (ctx.RawIn is { } raw)
            {
                var buffer = new byte[32768];
                int n;
                while ((n = await raw.ReadAsync(buffer, ct)) > 0)
                    await ws.SendAsync(buffer.AsMemory(0, n), WebSocketMessageType.Binary, true, ct);
            }
            else
            {
                var text = await ctx.In.ReadToEndAsync(ct);
                if (text.Length > 0)
                    await ws.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Binary, true, ct);
            }

            await ws.SendAsync(ReadOnlyMemory<byte>.Empty, WebSocketMessageType.Text, true, ct);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The command may finish without reading its input.
        }
    }
}
