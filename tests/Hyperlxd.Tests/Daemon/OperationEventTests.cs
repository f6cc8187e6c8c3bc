using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Daemon;

[Collection(SharedDaemonCollection.Name)]
public sealed class OperationEventTests(SharedDaemon fixture)
{
    private ApiClient Api => fixture.Daemon.Api;

    private async Task<ClientWebSocket> ConnectEventsAsync(string query)
    {
        var ws = new ClientWebSocket();
        var handler = Hyperlxd.Api.UnixSocketTransport.CreateHandler(fixture.Daemon.Socket);
#pragma warning disable CA2000 // the returned websocket's connection came from this handler: it lives as long as the socket
        await ws.ConnectAsync(new Uri("ws://unix.socket/1.0/events" + query), new HttpMessageInvoker(handler), CancellationToken.None);
#pragma warning restore CA2000
        return ws;
    }

    private static async Task<JsonElement> NextEventAsync(ClientWebSocket ws, Func<JsonElement, bool> match)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[65536];
        while (true)
        {
            var text = new StringBuilder();
            WebSocketReceiveResult r;
            do
            {
                r = await ws.ReceiveAsync(buffer, cts.Token);
                Assert.Equal(WebSocketMessageType.Text, r.MessageType);
                text.Append(Encoding.UTF8.GetString(buffer, 0, r.Count));
            }
            while (!r.EndOfMessage);
            var ev = JsonDocument.Parse(text.ToString()).RootElement.Clone();
            if (match(ev))
            {
                return ev;
            }
        }
    }

    [Fact]
    public async Task Lifecycle_events_follow_profile_changes()
    {
        using var ws = await ConnectEventsAsync("?type=lifecycle");
        await Api.PostAsync("/1.0/profiles", """{"name":"ev-p"}""");
        var ev = await NextEventAsync(ws, e => e.GetProperty("metadata").GetProperty("source").GetString() == "/1.0/profiles/ev-p");
        Assert.Equal("lifecycle", ev.GetProperty("type").GetString());
        Assert.Equal("profile-created", ev.GetProperty("metadata").GetProperty("action").GetString());
        Assert.Equal("unix", ev.GetProperty("metadata").GetProperty("requestor").GetProperty("protocol").GetString());
        await Api.DeleteAsync("/1.0/profiles/ev-p");
        ev = await NextEventAsync(ws, e => e.GetProperty("metadata").GetProperty("source").GetString() == "/1.0/profiles/ev-p");
        Assert.Equal("profile-deleted", ev.GetProperty("metadata").GetProperty("action").GetString());
        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }

    [Fact]
    public async Task Operation_events_report_creation_and_the_final_state()
    {
        using var ws = await ConnectEventsAsync("");
        var r = await Api.PostAsync("/1.0/certificates", """{"name":"ev-token","token":true}""");
        Assert.Equal(HttpStatusCode.Accepted, r.Status);
        var id = r.Metadata.GetProperty("id").GetString();
        Assert.Equal("/1.0/operations/" + id, r.Body.GetProperty("operation").GetString());
        Assert.Equal("/1.0/operations/" + id, r.Headers.Location!.ToString());

        var ev = await NextEventAsync(ws, e => e.GetProperty("type").GetString() == "operation" && e.GetProperty("metadata").GetProperty("id").GetString() == id);
        Assert.Equal(103, ev.GetProperty("metadata").GetProperty("status_code").GetInt32());

        // wait with a zero timeout returns the still-running operation.
        var waited = await Api.GetAsync($"/1.0/operations/{id}/wait?timeout=0");
        Assert.Equal("Running", waited.Metadata.GetProperty("status").GetString());

        Assert.Equal(HttpStatusCode.OK, (await Api.DeleteAsync("/1.0/operations/" + id)).Status);
        ev = await NextEventAsync(ws, e => e.GetProperty("type").GetString() == "operation" && e.GetProperty("metadata").GetProperty("id").GetString() == id
            && e.GetProperty("metadata").GetProperty("status_code").GetInt32() >= 200);
        Assert.Equal(401, ev.GetProperty("metadata").GetProperty("status_code").GetInt32());

        waited = await Api.GetAsync($"/1.0/operations/{id}/wait");
        Assert.Equal("Cancelled", waited.Metadata.GetProperty("status").GetString());
        r = await Api.DeleteAsync("/1.0/operations/" + id);
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }

    [Fact]
    public async Task Unknown_operations_and_event_types_are_clear_errors()
    {
        var r = await Api.GetAsync("/1.0/operations/00000000-0000-0000-0000-000000000000");
        Assert.Equal(HttpStatusCode.NotFound, r.Status);
        Assert.Contains("Operation not found", r.Error);
        r = await Api.GetAsync("/1.0/operations/nope/wait?timeout=1");
        Assert.Equal(HttpStatusCode.NotFound, r.Status);
        r = await Api.DeleteAsync("/1.0/operations/nope");
        Assert.Equal(HttpStatusCode.NotFound, r.Status);
        await Assert.ThrowsAnyAsync<WebSocketException>(() => ConnectEventsAsync("?type=bogus"));
        r = await Api.GetAsync("/1.0/events");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("websocket", r.Error);
    }
}
