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

    /// <summary>
    /// Image operations carry their project (LXD's OperationCreate(projectName)): a pull and a delete in a project
    /// with its own images are listed and announced in that project only; the delete names the image with ?project=.
    /// </summary>
    [Fact]
    public async Task Pull_and_delete_in_a_project_with_its_own_images_are_operations_of_that_project()
    {
        await using var server = await SimplestreamsServer.StartAsync(dropOnce: false);
        var created = await Api.PostAsync("/1.0/projects", """{"name":"imgops","config":{"features.images":"true"}}""");
        Assert.True(created.Status == HttpStatusCode.OK, created.ToString());
        string? fp = null;
        try
        {
            await using var inProject = await OperationEvents.OpenAsync(fixture.Daemon.Socket, "imgops");
            await using var inDefault = await OperationEvents.OpenAsync(fixture.Daemon.Socket, null);

            var r = await Api.PostAsync("/1.0/images?project=imgops", $$$"""{"source":{"type":"image","server":"{{{server.Url}}}","protocol":"simplestreams","alias":"busybox/combined"}}""");
            Assert.True(r.Status == HttpStatusCode.Accepted, r.ToString());
            var pull = r.Metadata.GetProperty("id").GetString()!;
            Assert.Contains(pull, (await Api.GetAsync("/1.0/operations?project=imgops")).Body.ToString());
            Assert.DoesNotContain(pull, (await Api.GetAsync("/1.0/operations")).Body.ToString());
            var done = (await Api.GetAsync($"/1.0/operations/{pull}/wait?timeout=60&project=imgops")).Metadata;
            Assert.True(done.GetProperty("status").GetString() == "Success", done.ToString());
            fp = done.GetProperty("metadata").GetProperty("fingerprint").GetString()!;
            Assert.Equal(HttpStatusCode.OK, (await Api.GetAsync($"/1.0/images/{fp}?project=imgops")).Status);
            Assert.Equal(HttpStatusCode.NotFound, (await Api.GetAsync($"/1.0/images/{fp}")).Status);
            var projectEvents = await inProject.UntilFinalAsync(pull);
            Assert.All(projectEvents.Where(e => e.Operation.GetProperty("id").GetString() == pull), e => Assert.Equal("imgops", e.Project));

            var del = await Api.DeleteAsync($"/1.0/images/{fp}?project=imgops");
            Assert.True(del.Status == HttpStatusCode.Accepted, del.ToString());
            Assert.Equal([$"/1.0/images/{fp}?project=imgops"], del.Metadata.GetProperty("resources").GetProperty("images").EnumerateArray().Select(u => u.GetString()));
            var delete = del.Metadata.GetProperty("id").GetString()!;
            Assert.Equal("imgops", (await inProject.UntilFinalAsync(delete)).Last().Project);
            fp = null;

            // A later operation of the default project: its listener got it, and nothing of the project's before it.
            var marker = await Api.PostAsync("/1.0/images", $$$"""{"source":{"type":"image","server":"{{{server.Url}}}","protocol":"simplestreams","alias":"nope"}}""");
            var markerId = marker.Metadata.GetProperty("id").GetString()!;
            var defaultEvents = await inDefault.UntilFinalAsync(markerId);
            Assert.DoesNotContain(defaultEvents, e => e.Operation.GetProperty("id").GetString() is var id && (id == pull || id == delete));
            Assert.All(defaultEvents, e => Assert.Contains(e.Project, new[] { "default", "" }));
        }
        finally
        {
            if (fp is not null)
            {
                await Api.DeleteAsync($"/1.0/images/{fp}?project=imgops");
            }
            await Api.DeleteAsync("/1.0/projects/imgops");
        }
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
