using System.Net;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Networking;

/// <summary><c>/1.0/networks</c> on a real daemon in a network namespace of its own: lifecycle and the 4xx cases.</summary>
public sealed class NetworkApiTests
{
    [Fact]
    public async Task Networks_lifecycle_and_bad_requests()
    {
        await using var d = await DaemonProcess.StartAsync();
        Assert.False(d.HostNetwork);
        var r = await d.Api.PostAsync("/1.0/networks", """{"name":"hlxbr0","type":"","config":{"ipv4.address":"10.90.0.1/24","ipv6.address":"none"}}""");
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());

        var list = (await d.Api.GetAsync("/1.0/networks?recursion=1")).Metadata.EnumerateArray().ToList();
        Assert.Contains(list, n => n.GetProperty("name").GetString() == "hlxbr0" && n.GetProperty("managed").GetBoolean());
        Assert.Contains(list, n => n.GetProperty("name").GetString() == "lo" && !n.GetProperty("managed").GetBoolean() && n.GetProperty("type").GetString() == "loopback");
        Assert.Contains("/1.0/networks/hlxbr0", (await d.Api.GetAsync("/1.0/networks")).Metadata.EnumerateArray().Select(e => e.GetString()));
        var state = (await d.Api.GetAsync("/1.0/networks/hlxbr0/state")).Metadata;
        Assert.Equal("up", state.GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.OK, (await d.Api.GetAsync("/1.0/networks/hlxbr0/leases")).Status);

        // Bad input: unknown key, bad value, overlapping subnet, bad name — each a 400 naming it; nothing created.
        r = await d.Api.PostAsync("/1.0/networks", """{"name":"hlxbr1","config":{"ipv4.nope":"1"}}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("ipv4.nope", r.Error);
        r = await d.Api.PostAsync("/1.0/networks", """{"name":"hlxbr1","config":{"ipv4.address":"10.90.0.77/16"}}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("ipv4.address", r.Error);
        r = await d.Api.PostAsync("/1.0/networks", """{"name":"bad/name"}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Equal(HttpStatusCode.NotFound, (await d.Api.GetAsync("/1.0/networks/hlxbr1")).Status);
        r = await d.Api.PostAsync("/1.0/networks", """{"name":"hlxbr0"}""");
        Assert.Equal(HttpStatusCode.Conflict, r.Status);

        // Unmanaged links are never modified.
        Assert.Equal(HttpStatusCode.BadRequest, (await d.Api.PutAsync("/1.0/networks/lo", """{"config":{}}""")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await d.Api.DeleteAsync("/1.0/networks/lo")).Status);

        // In use by a profile: delete and rename refused naming it.
        r = await d.Api.PostAsync("/1.0/profiles", """{"name":"netp","devices":{"eth0":{"type":"nic","network":"hlxbr0","name":"eth0"}}}""");
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
        var used = (await d.Api.GetAsync("/1.0/networks/hlxbr0")).Metadata.GetProperty("used_by").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Contains("/1.0/profiles/netp", used);
        r = await d.Api.DeleteAsync("/1.0/networks/hlxbr0");
        Assert.Equal(HttpStatusCode.Conflict, r.Status);
        Assert.Contains("netp", r.Error);
        r = await d.Api.PostAsync("/1.0/networks/hlxbr0", """{"name":"hlxbr9"}""");
        Assert.Equal(HttpStatusCode.Conflict, r.Status);
        Assert.Equal(HttpStatusCode.OK, (await d.Api.DeleteAsync("/1.0/profiles/netp")).Status);

        // PATCH live, rename, delete.
        r = await d.Api.PatchAsync("/1.0/networks/hlxbr0", """{"config":{"bridge.mtu":"1400","user.k":"v"}}""");
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
        Assert.Equal(1400, (await d.Api.GetAsync("/1.0/networks/hlxbr0/state")).Metadata.GetProperty("mtu").GetInt32());
        Assert.Equal(HttpStatusCode.OK, (await d.Api.PostAsync("/1.0/networks/hlxbr0", """{"name":"hlxbr9"}""")).Status);
        Assert.Equal("v", (await d.Api.GetAsync("/1.0/networks/hlxbr9")).Metadata.GetProperty("config").GetProperty("user.k").GetString());
        Assert.Equal(HttpStatusCode.OK, (await d.Api.DeleteAsync("/1.0/networks/hlxbr9")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await d.Api.GetAsync("/1.0/networks/hlxbr9")).Status);
        Assert.DoesNotContain("hyperlxd", (await d.RunInNetnsAsync("nft", ["list", "tables"])).Stdout);
    }
}
