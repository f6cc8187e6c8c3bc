using System.Net;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Daemon;

[Collection(SharedDaemonCollection.Name)]
public sealed class ProfileApiTests(SharedDaemon fixture)
{
    private ApiClient Api => fixture.Daemon.Api;

    private async Task<string> ProfileNamesAsync() =>
        string.Join(",", (await Api.GetAsync("/1.0/profiles")).Metadata.EnumerateArray().Select(e => e.GetString()).Order());

    [Fact]
    public async Task Create_show_put_patch_rename_delete()
    {
        var r = await Api.PostAsync("/1.0/profiles", """{"name":"api-p1","description":"d","config":{"limits.cpu":"2"},"devices":{"root":{"type":"disk","path":"/","pool":"default"}}}""");
        Assert.Equal(HttpStatusCode.OK, r.Status);

        r = await Api.GetAsync("/1.0/profiles/api-p1");
        Assert.Equal("2", r.Metadata.GetProperty("config").GetProperty("limits.cpu").GetString());
        Assert.Equal("disk", r.Metadata.GetProperty("devices").GetProperty("root").GetProperty("type").GetString());
        var etag = r.Headers.ETag!.Tag;

        // PATCH merges: limits.cpu stays, limits.memory is added.
        r = await Api.PatchAsync("/1.0/profiles/api-p1", """{"config":{"limits.memory":"64MiB"}}""");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        r = await Api.GetAsync("/1.0/profiles/api-p1");
        Assert.Equal("2", r.Metadata.GetProperty("config").GetProperty("limits.cpu").GetString());
        Assert.Equal("64MiB", r.Metadata.GetProperty("config").GetProperty("limits.memory").GetString());

        // The ETag read before the PATCH is stale now.
        r = await Api.PutAsync("/1.0/profiles/api-p1", """{"config":{},"devices":{}}""", etag);
        Assert.Equal(HttpStatusCode.PreconditionFailed, r.Status);

        // PUT replaces; read-only fields such as name and used_by (pylxd sends them) are ignored.
        r = await Api.PutAsync("/1.0/profiles/api-p1", """{"name":"ignored","used_by":[],"description":"new","config":{"limits.processes":"100"},"devices":{}}""");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        r = await Api.GetAsync("/1.0/profiles/api-p1");
        Assert.Equal("api-p1", r.Metadata.GetProperty("name").GetString());
        Assert.Equal("new", r.Metadata.GetProperty("description").GetString());
        Assert.Equal("""{"limits.processes":"100"}""", r.Metadata.GetProperty("config").GetRawText());

        r = await Api.PostAsync("/1.0/profiles/api-p1", """{"name":"api-p2"}""");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Api.GetAsync("/1.0/profiles/api-p1")).Status);
        Assert.Equal(HttpStatusCode.OK, (await Api.DeleteAsync("/1.0/profiles/api-p2")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Api.GetAsync("/1.0/profiles/api-p2")).Status);
    }

    [Fact]
    public async Task The_default_profile_cannot_be_deleted_or_renamed()
    {
        var r = await Api.DeleteAsync("/1.0/profiles/default");
        Assert.Equal(HttpStatusCode.Forbidden, r.Status);
        Assert.Contains("default", r.Error);
        r = await Api.PostAsync("/1.0/profiles/default", """{"name":"other"}""");
        Assert.Equal(HttpStatusCode.Forbidden, r.Status);
        Assert.Equal(HttpStatusCode.OK, (await Api.GetAsync("/1.0/profiles/default")).Status);
    }

    public static TheoryData<string, HttpStatusCode, string> BadCreates => new()
    {
        { """{"name":"bad-json",""", HttpStatusCode.BadRequest, "Invalid JSON" },
        { """{"name":"x1","confg":{},"description":7}""", HttpStatusCode.BadRequest, "description" },
        { """{"name":"a/b"}""", HttpStatusCode.BadRequest, "slashes" },
        { """{"name":".."}""", HttpStatusCode.BadRequest, "Invalid profile name" },
        { """{"name":""}""", HttpStatusCode.BadRequest, "No name" },
        { """{"name":"has space"}""", HttpStatusCode.BadRequest, "white space" },
        { """{"name":"x2","config":{"limits.bogus":"1"}}""", HttpStatusCode.BadRequest, "limits.bogus" },
        { """{"name":"x3","config":{"limits.memory":"lots"}}""", HttpStatusCode.BadRequest, "limits.memory" },
        { """{"name":"x4","config":{"limits.cpu":"0"}}""", HttpStatusCode.BadRequest, "limits.cpu" },
        { """{"name":"x5","config":{"volatile.x":"1"}}""", HttpStatusCode.BadRequest, "volatile.x" },
        { """{"name":"x6","devices":{"d":{"type":"warp"}}}""", HttpStatusCode.BadRequest, "warp" },
        { """{"name":"x7","devices":{"d":{"type":"disk","path":"/mnt"}}}""", HttpStatusCode.BadRequest, "source" },
        { """{"name":"x8","devices":{"d":{"path":"/"}}}""", HttpStatusCode.BadRequest, "type" },
        { """{"name":"x9","config":{"limits.cpu":2}}""", HttpStatusCode.BadRequest, "config" },
        { """{"name":"default"}""", HttpStatusCode.Conflict, "already exists" },
    };

    [Theory]
    [MemberData(nameof(BadCreates))]
    public async Task Bad_creates_are_refused_with_a_clear_error_and_nothing_written(string body, HttpStatusCode status, string mentions)
    {
        var before = await ProfileNamesAsync();
        var r = await Api.PostAsync("/1.0/profiles", body);
        Assert.Equal(status, r.Status);
        Assert.Equal("error", r.Type);
        Assert.Contains(mentions, r.Error);
        Assert.Equal(before, await ProfileNamesAsync());
    }

    [Fact]
    public async Task A_bad_update_leaves_the_profile_unchanged()
    {
        await Api.PostAsync("/1.0/profiles", """{"name":"api-keep","config":{"limits.cpu":"1"}}""");
        var before = (await Api.GetAsync("/1.0/profiles/api-keep")).Metadata.ToString();
        var r = await Api.PutAsync("/1.0/profiles/api-keep", """{"config":{"limits.cpu":"2","nope":"x"}}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("nope", r.Error);
        r = await Api.PatchAsync("/1.0/profiles/api-keep", """{"devices":{"eth0":{"type":"nic"}}}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("eth0", r.Error);
        r = await Api.PostAsync("/1.0/profiles/api-keep", """{"name":"default"}""");
        Assert.Equal(HttpStatusCode.Conflict, r.Status);
        Assert.Equal(before, (await Api.GetAsync("/1.0/profiles/api-keep")).Metadata.ToString());
        await Api.DeleteAsync("/1.0/profiles/api-keep");
    }

    [Fact]
    public async Task Oversized_bodies_are_refused_with_413()
    {
        var big = new string('x', 2 << 20);
        var r = await Api.PostAsync("/1.0/profiles", $$"""{"name":"huge","description":"{{big}}"}""");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.Status);
        Assert.Contains("too large", r.Error);
        Assert.Equal(HttpStatusCode.NotFound, (await Api.GetAsync("/1.0/profiles/huge")).Status);
    }

    [Fact]
    public async Task Recursion_and_filter_narrow_the_collection()
    {
        await Api.PostAsync("/1.0/profiles", """{"name":"flt-a","config":{"limits.cpu":"1"}}""");
        await Api.PostAsync("/1.0/profiles", """{"name":"flt-b","config":{"limits.cpu":"2"}}""");
        try
        {
            var r = await Api.GetAsync("/1.0/profiles?recursion=1&filter=" + Uri.EscapeDataString("config.limits.cpu eq 2 and name eq flt-.*"));
            Assert.Equal(new[] { "flt-b" }, r.Metadata.EnumerateArray().Select(p => p.GetProperty("name").GetString()));

            r = await Api.GetAsync("/1.0/profiles?filter=" + Uri.EscapeDataString("not name eq default and name ne flt-b"));
            Assert.Contains("/1.0/profiles/flt-a", r.Metadata.EnumerateArray().Select(p => p.GetString()));
            Assert.DoesNotContain("/1.0/profiles/default", r.Metadata.EnumerateArray().Select(p => p.GetString()));

            r = await Api.GetAsync("/1.0/profiles?filter=" + Uri.EscapeDataString("name gt x"));
            Assert.Equal(HttpStatusCode.BadRequest, r.Status);
            Assert.Contains("gt", r.Error);

            r = await Api.GetAsync("/1.0/profiles?recursion=abc");
            Assert.Equal(HttpStatusCode.BadRequest, r.Status);
            Assert.Contains("recursion", r.Error);
        }
        finally
        {
            await Api.DeleteAsync("/1.0/profiles/flt-a");
            await Api.DeleteAsync("/1.0/profiles/flt-b");
        }
    }
}
