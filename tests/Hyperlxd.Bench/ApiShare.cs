using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Hyperlxd.Bench;

/// <summary>
/// The daemon's own share of a launch and an exec, without the `lxc` client's process start and its
/// extra requests: the same REST calls `lxc` makes, from a warm HTTP client on the unix socket.
/// Create = POST /1.0/instances + wait; start = PUT state + wait; exec = POST exec
/// (wait-for-websocket, non-interactive), connecting the stdin/stdout/stderr/control websockets,
/// reading to EOF and waiting for the operation's return code; the exec runs 200 ms after the start.
/// </summary>
internal sealed class ApiShare(string socketPath) : IDisposable
{
    private readonly SocketsHttpHandler _handler = Hyperlxd.Api.UnixSocketTransport.CreateHandler(socketPath);
    private HttpClient? _http;

    private HttpClient Http => _http ??= new HttpClient(_handler, disposeHandler: false) { BaseAddress = new Uri("http://unix.socket") };

    public List<double> Create { get; } = new();
    public List<double> Start { get; } = new();
    public List<double> CreateStart { get; } = new();
    public List<double> Exec { get; } = new();

    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Unmeasured rounds first: the client is a .NET process whose HTTP, websocket and JSON code is
    /// compiled on first use (and recompiled once hot), which would otherwise land in the first samples.
    /// </summary>
    public async Task WarmUpAsync(string alias, int rounds)
    {
        for (var i = 0; i < rounds; i++)
        {
            await RoundAsync(alias, $"warm-api{i}");
        }
        Create.Clear();
        Start.Clear();
        CreateStart.Clear();
        Exec.Clear();
    }

    /// <summary>One round: create, start, exec `true`, then force stop and delete (not measured).</summary>
    public async Task RoundAsync(string alias, string name)
    {
        var t0 = Stopwatch.GetTimestamp();
        await OperationAsync(HttpMethod.Post, "/1.0/instances", new JsonObject
        {
            ["name"] = name,
            ["source"] = new JsonObject { ["type"] = "image", ["alias"] = alias },
        });
        var created = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        var t1 = Stopwatch.GetTimestamp();
        await OperationAsync(HttpMethod.Put, $"/1.0/instances/{name}/state", new JsonObject { ["action"] = "start", ["timeout"] = -1 });
        var started = Stopwatch.GetElapsedTime(t1).TotalMilliseconds;
        Create.Add(created);
        Start.Add(started);
        CreateStart.Add(created + started);

        // exec on a container that has settled (not in the same instant as its start), on both servers alike.
        await Task.Delay(Settle);
        var t2 = Stopwatch.GetTimestamp();
        var rc = await ExecTrueAsync(name);
        Exec.Add(Stopwatch.GetElapsedTime(t2).TotalMilliseconds);
        if (rc != 0)
        {
            throw new BenchException($"exec true through the API returned {rc}");
        }
        await OperationAsync(HttpMethod.Put, $"/1.0/instances/{name}/state", new JsonObject { ["action"] = "stop", ["force"] = true, ["timeout"] = -1 });
        await OperationAsync(HttpMethod.Delete, $"/1.0/instances/{name}", null);
    }

    /// <summary>One `exec -- true` as lxc makes it (websockets connected, drained, operation waited): its return code.</summary>
    public async Task<int> ExecTrueAsync(string name)
    {
        var op = await SendAsync(HttpMethod.Post, $"/1.0/instances/{name}/exec", new JsonObject
        {
            ["command"] = new JsonArray("true"),
            ["wait-for-websocket"] = true,
            ["interactive"] = false,
            ["environment"] = new JsonObject(),
        });
        var id = op.GetProperty("operation").GetString()!;
        var fds = op.GetProperty("metadata").GetProperty("metadata").GetProperty("fds");
        var sockets = new List<ClientWebSocket>();
        try
        {
            // control first, as lxc does: the command may start (and end) once the data sockets are in.
            foreach (var fd in new[] { "control", "0", "1", "2" })
            {
                var ws = new ClientWebSocket();
                sockets.Add(ws);
                using var invoker = new HttpMessageInvoker(_handler, false); // the handshake's; the shared handler stays
                await ws.ConnectAsync(new Uri($"ws://unix.socket{id}/websocket?secret={fds.GetProperty(fd).GetString()}"), invoker, default);
            }
            // stdin: nothing to send (the command may already be gone); stdout/stderr: read until the server closes them.
            try
            {
                await sockets[1].CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, default);
            }
            catch (WebSocketException)
            {
            }
            await Task.WhenAll(DrainAsync(sockets[2]), DrainAsync(sockets[3]));
            var done = await WaitAsync(id);
            return done.GetProperty("metadata").GetProperty("return").GetInt32();
        }
        finally
        {
            foreach (var ws in sockets)
            {
                ws.Abort();
                ws.Dispose();
            }
        }
    }

    private static async Task DrainAsync(ClientWebSocket ws)
    {
        var buf = new byte[4096];
        try
        {
            while (ws.State == WebSocketState.Open)
            {
                var r = await ws.ReceiveAsync(buf, default);
                if (r.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
            }
        }
        catch (WebSocketException)
        {
            // LXD drops the connection without a close frame at EOF; either way the stream is done.
        }
    }

    /// <summary>Create, start, force stop and delete one container, unmeasured (the soak's cycle).</summary>
    public async Task CycleAsync(string alias, string name)
    {
        await OperationAsync(HttpMethod.Post, "/1.0/instances", new JsonObject
        {
            ["name"] = name,
            ["source"] = new JsonObject { ["type"] = "image", ["alias"] = alias },
        });
        await OperationAsync(HttpMethod.Put, $"/1.0/instances/{name}/state", new JsonObject { ["action"] = "start", ["timeout"] = -1 });
        await OperationAsync(HttpMethod.Put, $"/1.0/instances/{name}/state", new JsonObject { ["action"] = "stop", ["force"] = true, ["timeout"] = -1 });
        await OperationAsync(HttpMethod.Delete, $"/1.0/instances/{name}", null);
    }

    /// <summary>Create and start one container.</summary>
    public async Task LaunchAsync(string alias, string name)
    {
        await OperationAsync(HttpMethod.Post, "/1.0/instances", new JsonObject
        {
            ["name"] = name,
            ["source"] = new JsonObject { ["type"] = "image", ["alias"] = alias },
        });
        await OperationAsync(HttpMethod.Put, $"/1.0/instances/{name}/state", new JsonObject { ["action"] = "start", ["timeout"] = -1 });
    }

    private async Task OperationAsync(HttpMethod method, string path, JsonObject? body)
    {
        var r = await SendAsync(method, path, body);
        var done = await WaitAsync(r.GetProperty("operation").GetString()!);
        if (done.GetProperty("status").GetString() != "Success")
        {
            throw new BenchException($"{method} {path}: {done.GetProperty("err").GetString()}");
        }
    }

    private async Task<JsonElement> SendAsync(HttpMethod method, string path, JsonObject? body)
    {
        using var req = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            req.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }
        using var resp = await Http.SendAsync(req);
        var doc = JsonDocument.Parse(await resp.Content.ReadAsStringAsync()).RootElement.Clone();
        if (doc.GetProperty("type").GetString() == "error")
        {
            throw new BenchException($"{method} {path}: {doc.GetProperty("error").GetString()}");
        }
        return doc;
    }

    private async Task<JsonElement> WaitAsync(string operation)
    {
        using var resp = await Http.GetAsync(operation + "/wait?timeout=60");
        return JsonDocument.Parse(await resp.Content.ReadAsStringAsync()).RootElement.GetProperty("metadata").Clone();
    }

    public void Dispose()
    {
        _http?.Dispose();
        _handler.Dispose();
    }
}
