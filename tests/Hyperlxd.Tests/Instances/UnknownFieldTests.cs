using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Instances;

/// <summary>
/// Issue 9 finding 17: LXD ignores JSON fields it does not know and real clients depend on it
/// (Ansible's lxd_profile PUTs the whole response envelope back); wrong types on known fields stay 400s.
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class UnknownFieldTests(ContainerDaemon fixture)
{
    private ApiClient Api => fixture.Daemon.Api;

    private async Task WaitOkAsync(ApiResponse accepted)
    {
        Assert.True(accepted.Status == HttpStatusCode.Accepted, accepted.ToString());
        var w = await Api.GetAsync(accepted.Body.GetProperty("operation").GetString() + "/wait?timeout=90");
        Assert.True(w.Metadata.GetProperty("status").GetString() == "Success", w.ToString());
    }

    /// <summary>Instance updates answer 200 or an operation, as LXD's do.</summary>
    private async Task OkAsync(ApiResponse r)
    {
        Assert.True(r.Status is HttpStatusCode.OK or HttpStatusCode.Accepted, r.ToString());
        if (r.Status == HttpStatusCode.Accepted)
        {
            await WaitOkAsync(r);
        }
    }

    [Fact]
    public async Task Ansible_lxd_profile_puts_the_response_envelope_back_and_it_applies()
    {
        var r = await Api.PostAsync("/1.0/profiles", """{"name":"ansible-p","config":{"limits.cpu":"1"},"devices":{},"managed_by":"ansible"}""");
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());

        // What community.general.lxd_profile does: old = client.do('GET', url); old.update(new); PUT old.
        var old = (await Api.GetAsync("/1.0/profiles/ansible-p")).Body;
        var body = JsonNode.Parse(old.GetRawText())!.AsObject();
        Assert.Equal("sync", body["type"]!.GetValue<string>());
        body["config"] = new JsonObject { ["limits.memory"] = "128MiB" };
        body["description"] = "managed by ansible";
        body["devices"] = new JsonObject();
        r = await Api.PutAsync("/1.0/profiles/ansible-p", body.ToJsonString());
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());

        var now = (await Api.GetAsync("/1.0/profiles/ansible-p")).Metadata;
        Assert.Equal("""{"limits.memory":"128MiB"}""", now.GetProperty("config").GetRawText());
        Assert.Equal("managed by ansible", now.GetProperty("description").GetString());

        r = await Api.PostAsync("/1.0/profiles/ansible-p", """{"name":"ansible-q","status":"Success"}""");
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());

        // A known field with the wrong type is still refused, naming it.
        r = await Api.PutAsync("/1.0/profiles/ansible-q", """{"type":"sync","config":"limits.cpu=1"}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("config", r.Error);
        Assert.Equal(HttpStatusCode.OK, (await Api.DeleteAsync("/1.0/profiles/ansible-q")).Status);
    }

    [Fact]
    public async Task Extra_fields_on_instance_state_and_server_bodies_are_ignored()
    {
        var r = await Api.PostAsync("/1.0/instances",
            """{"name":"extra-f","type":"container","future_field":{"a":1},"source":{"type":"image","alias":"busybox","mode":"pull","extra":true}}""");
        await WaitOkAsync(r);
        try
        {
            await OkAsync(await Api.PatchAsync("/1.0/instances/extra-f", """{"config":{"user.k":"v"},"status_code":200,"expanded_config":{}}"""));
            var got = (await Api.GetAsync("/1.0/instances/extra-f")).Metadata;
            Assert.Equal("v", got.GetProperty("config").GetProperty("user.k").GetString());

            var put = JsonNode.Parse(got.GetRawText())!.AsObject();
            put["config"]!["user.k"] = "w";
            put["unknown_thing"] = "x";
            await OkAsync(await Api.PutAsync("/1.0/instances/extra-f", put.ToJsonString()));
            Assert.Equal("w", (await Api.GetAsync("/1.0/instances/extra-f")).Metadata.GetProperty("config").GetProperty("user.k").GetString());

            await WaitOkAsync(await Api.PutAsync("/1.0/instances/extra-f/state", """{"action":"start","timeout":30,"force":false,"stateful":false,"why":"test"}"""));
            await WaitOkAsync(await Api.PutAsync("/1.0/instances/extra-f/state", """{"action":"stop","timeout":30,"force":true,"why":"test"}"""));
            await OkAsync(await Api.PostAsync("/1.0/instances/extra-f", """{"name":"extra-g","migration":false,"extra":1}"""));

            // Known fields with wrong types still answer 400 naming the field.
            r = await Api.PatchAsync("/1.0/instances/extra-g", """{"profiles":"default","extra":1}""");
            Assert.Equal(HttpStatusCode.BadRequest, r.Status);
            Assert.Contains("profiles", r.Error);
            r = await Api.PutAsync("/1.0/instances/extra-g/state", """{"action":7}""");
            Assert.Equal(HttpStatusCode.BadRequest, r.Status);
            Assert.Contains("action", r.Error);
        }
        finally
        {
            await fixture.Daemon.LxcAsync("delete", "--force", "extra-f");
            await fixture.Daemon.LxcAsync("delete", "--force", "extra-g");
        }

        // The server object: GET, change, send everything back (as pylxd and Ansible do).
        var server = JsonNode.Parse((await Api.GetAsync("/1.0")).Metadata.GetRawText())!.AsObject();
        server["config"]!["core.shutdown_timeout"] = "7";
        r = await Api.PutAsync("/1.0", server.ToJsonString());
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
        r = await Api.PatchAsync("/1.0", """{"config":{"core.shutdown_timeout":"8"},"type":"sync"}""");
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
        Assert.Equal("8", (await Api.GetAsync("/1.0")).Metadata.GetProperty("config").GetProperty("core.shutdown_timeout").GetString());
        r = await Api.PatchAsync("/1.0", """{"config":["x"],"type":"sync"}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("config", r.Error);
        Assert.Equal(HttpStatusCode.OK, (await Api.PatchAsync("/1.0", """{"config":{"core.shutdown_timeout":""}}""")).Status);
    }
}
