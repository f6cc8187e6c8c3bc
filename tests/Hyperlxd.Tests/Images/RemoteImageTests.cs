using System.Net;
using System.Text.Json;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Images;

/// <summary><c>POST /1.0/images</c> with a simplestreams or URL source, against a server on loopback.</summary>
[Collection(ImageCollection.Name)]
public sealed class RemoteImageTests(ImageFixture fixture)
{
    private ApiClient Api => fixture.Daemon.Api;

    private async Task<JsonElement> PullAsync(string body)
    {
        var r = await Api.PostAsync("/1.0/images", body);
        Assert.True(r.Status == HttpStatusCode.Accepted, r.ToString());
        var op = await Api.GetAsync(r.Headers.Location + "/wait?timeout=60");
        return op.Metadata;
    }

    [Fact]
    public async Task Pull_by_alias_resumes_after_a_dropped_connection()
    {
        await using var server = await SimplestreamsServer.StartAsync(dropOnce: true);
        var op = await PullAsync($$$"""
            {"source":{"type":"image","mode":"pull","server":"{{{server.Url}}}","protocol":"simplestreams","alias":"busybox/edge"},
             "aliases":[{"name":"edge","description":"from the stream"}],"auto_update":true}
            """);
        Assert.True(op.GetProperty("status").GetString() == "Success", op.ToString());
        Assert.Equal(server.SplitFingerprint, op.GetProperty("metadata").GetProperty("fingerprint").GetString());
        // The squashfs was cut halfway once: the client asked for the rest.
        Assert.Contains(server.RangeRequests, r => r.StartsWith("/images/busybox/root.squashfs bytes=", StringComparison.Ordinal));

        var image = (await Api.GetAsync("/1.0/images/aliases/edge")).Metadata;
        Assert.Equal(server.SplitFingerprint, image.GetProperty("target").GetString());
        var info = (await Api.GetAsync("/1.0/images/" + server.SplitFingerprint)).Metadata;
        Assert.Equal("simplestreams", info.GetProperty("update_source").GetProperty("protocol").GetString());
        Assert.Equal("busybox/edge", info.GetProperty("update_source").GetProperty("alias").GetString());
        Assert.True(info.GetProperty("cached").GetBoolean());

        // The same image again: LXD's conflict, reported by the operation.
        op = await PullAsync($$$"""{"source":{"type":"image","server":"{{{server.Url}}}","protocol":"simplestreams","alias":"busybox"}}""");
        Assert.Equal("Failure", op.GetProperty("status").GetString());
        Assert.Contains("already exists", op.GetProperty("err").GetString());

        await fixture.DeleteAllAsync();
        Assert.Equal("files=[] images=0 aliases=0", await fixture.StoreStateAsync());
    }

    [Fact]
    public async Task Pull_combined_image_and_from_url()
    {
        await using var server = await SimplestreamsServer.StartAsync(dropOnce: false);
        var op = await PullAsync($$$"""{"source":{"type":"image","server":"{{{server.Url}}}","protocol":"simplestreams","alias":"busybox/combined"}}""");
        Assert.True(op.GetProperty("status").GetString() == "Success", op.ToString());
        Assert.Equal(server.CombinedFingerprint, op.GetProperty("metadata").GetProperty("fingerprint").GetString());
        await fixture.DeleteAllAsync();

        op = await PullAsync($$$"""{"source":{"type":"url","url":"{{{server.Url}}}/images/busybox/combined.tar.gz"}}""");
        Assert.True(op.GetProperty("status").GetString() == "Success", op.ToString());
        Assert.Equal(server.CombinedFingerprint, op.GetProperty("metadata").GetProperty("fingerprint").GetString());
        await fixture.DeleteAllAsync();
        Assert.Equal("files=[] images=0 aliases=0", await fixture.StoreStateAsync());
    }

    /// <summary>
    /// The 5.0.2 client finishes waiting on the operation event; Go parses times from the raw JSON
    /// bytes, so an escaped '+' ("\u002B00:00") made it ignore every event and hang.
    /// </summary>
    [Fact]
    public async Task Operation_events_of_a_pull_carry_times_go_can_parse()
    {
        await using var server = await SimplestreamsServer.StartAsync(dropOnce: false);
        using var ws = new System.Net.WebSockets.ClientWebSocket();
        using var invoker = new HttpMessageInvoker(Hyperlxd.Api.UnixSocketTransport.CreateHandler(fixture.Daemon.Socket));
        await ws.ConnectAsync(new Uri("ws://unix.socket/1.0/events?type=operation"), invoker, CancellationToken.None);
        var r = await Api.PostAsync("/1.0/images", $$$"""{"source":{"type":"image","server":"{{{server.Url}}}","protocol":"simplestreams","alias":"busybox/combined"}}""");
        var id = r.Headers.Location!.ToString().Split('/')[^1];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var buffer = new byte[1 << 16];
        while (true)
        {
            var text = new System.Text.StringBuilder();
            System.Net.WebSockets.WebSocketReceiveResult frame;
            do
            {
                frame = await ws.ReceiveAsync(buffer, cts.Token);
                text.Append(System.Text.Encoding.UTF8.GetString(buffer, 0, frame.Count));
            }
            while (!frame.EndOfMessage);
            var raw = text.ToString();
            Assert.DoesNotContain("\\u002B", raw);
            var op = JsonDocument.Parse(raw).RootElement.GetProperty("metadata");
            if (op.GetProperty("id").GetString() == id && op.GetProperty("status_code").GetInt32() >= 200)
            {
                Assert.Equal("Success", op.GetProperty("status").GetString());
                Assert.Matches(@"^\d{4}-\d\d-\d\dT[\d:.]+(Z|\+00:00)$", op.GetProperty("created_at").GetString());
                break;
            }
        }
        await fixture.DeleteAllAsync();
        Assert.Equal("files=[] images=0 aliases=0", await fixture.StoreStateAsync());
    }

    [Fact]
    public async Task Bad_remote_sources_fail_and_leave_nothing()
    {
        await using var server = await SimplestreamsServer.StartAsync(dropOnce: false);
        var before = await fixture.StoreStateAsync();
        var r = await Api.PostAsync("/1.0/images", """{"source":{"type":"image","server":"ftp://x","alias":"a"}}""");
        Assert.Equal(HttpStatusCode.Accepted, r.Status);
        Assert.Contains("source.server", (await Api.GetAsync(r.Headers.Location + "/wait?timeout=30")).Metadata.GetProperty("err").GetString());
        r = await Api.PostAsync("/1.0/images", """{"source":{"type":"copy"}}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        // Unknown fields are ignored as LXD does (issue 9 #17); a known field of the wrong type is not.
        r = await Api.PostAsync("/1.0/images", """{"source":{"type":"url","url":"http://127.0.0.1/x"},"bogus":1,"public":"yes"}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("public", r.Error);
        var op = await PullAsync($$$"""{"source":{"type":"image","server":"{{{server.Url}}}","protocol":"simplestreams","alias":"nope"}}""");
        Assert.Equal("Failure", op.GetProperty("status").GetString());
        Assert.Contains("couldn't be found", op.GetProperty("err").GetString());
        op = await PullAsync($$$"""{"source":{"type":"url","url":"{{{server.Url}}}/images/busybox/missing"}}""");
        Assert.Equal("Failure", op.GetProperty("status").GetString());
        Assert.Equal(before, await fixture.StoreStateAsync());
    }
}
