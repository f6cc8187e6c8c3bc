using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Hyperlxd.Tests.Infrastructure;

/// <summary>
/// A <c>/1.0/events?type=operation</c> listener of one project (or the default one) on the daemon's unix socket,
/// read in order. Absence is shown without a timeout: read until a later marker operation arrives (events of
/// one listener are delivered in the order they were published).
/// </summary>
public sealed class OperationEvents : IAsyncDisposable
{
    private readonly ClientWebSocket _ws = new();
    private readonly HttpMessageInvoker _invoker;
    private readonly byte[] _buffer = new byte[1 << 16];

    private OperationEvents(string socket) => _invoker = new HttpMessageInvoker(Hyperlxd.Api.UnixSocketTransport.CreateHandler(socket));

    public static async Task<OperationEvents> OpenAsync(string socket, string? project)
    {
        var e = new OperationEvents(socket);
        var query = project is null ? "" : "&project=" + Uri.EscapeDataString(project);
        await e._ws.ConnectAsync(new Uri("ws://unix.socket/1.0/events?type=operation" + query), e._invoker, CancellationToken.None);
        return e;
    }

    /// <summary>The events (event project, operation metadata) received up to and including the first final state of operation <paramref name="id"/>.</summary>
    public async Task<List<(string Project, JsonElement Operation)>> UntilFinalAsync(string id)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var seen = new List<(string, JsonElement)>();
        while (true)
        {
            var text = new StringBuilder();
            WebSocketReceiveResult frame;
            do
            {
                frame = await _ws.ReceiveAsync(_buffer, cts.Token);
                text.Append(Encoding.UTF8.GetString(_buffer, 0, frame.Count));
            }
            while (!frame.EndOfMessage);
            var ev = JsonDocument.Parse(text.ToString()).RootElement.Clone();
            var op = ev.GetProperty("metadata");
            seen.Add((ev.TryGetProperty("project", out var p) ? p.GetString() ?? "" : "", op));
            if (op.GetProperty("id").GetString() == id && op.GetProperty("status_code").GetInt32() >= 200)
            {
                return seen;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        }
        catch (WebSocketException)
        {
        }
        _ws.Dispose();
        _invoker.Dispose();
    }
}
