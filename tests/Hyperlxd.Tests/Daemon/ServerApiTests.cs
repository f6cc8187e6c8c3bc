using System.Net;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Daemon;

[Collection(SharedDaemonCollection.Name)]
public sealed class ServerApiTests(SharedDaemon fixture)
{
    private ApiClient Api => fixture.Daemon.Api;

    [Fact]
    public async Task Unix_socket_callers_are_trusted_and_see_the_full_server_object()
    {
        var r = await Api.GetAsync("/1.0");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        Assert.Equal("sync", r.Type);
        Assert.Equal("trusted", r.Metadata.GetProperty("auth").GetString());
        Assert.Equal(fixture.Daemon.Pid, r.Metadata.GetProperty("environment").GetProperty("server_pid").GetInt32());
        Assert.Contains("etag", r.Metadata.GetProperty("api_extensions").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal($"127.0.0.1:{fixture.HttpsPort}", r.Metadata.GetProperty("environment").GetProperty("addresses")[0].GetString());
        // The password is never shown, only that one is set.
        Assert.True(r.Metadata.GetProperty("config").GetProperty("core.trust_password").GetBoolean());
        Assert.False(r.Headers.ETag is null);
    }

    [Fact]
    public async Task The_socket_is_0660_and_owned_by_the_hyperlxd_group()
    {
        var mode = File.GetUnixFileMode(fixture.Daemon.Socket);
        Assert.Equal((UnixFileMode)0b110_110_000, mode);
        var stat = await ProcessRunner.RunAsync("stat", new[] { "-c", "%G", fixture.Daemon.Socket });
        Assert.Equal("hyperlxd", stat.Stdout.Trim());
    }

    [Fact]
    public async Task Server_config_rejects_unknown_keys_and_bad_values_without_writing()
    {
        var before = (await Api.GetAsync("/1.0")).Metadata.GetProperty("config").ToString();

        var r = await Api.PatchAsync("/1.0", """{"config":{"core.bogus":"1"}}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("core.bogus", r.Error);

        r = await Api.PatchAsync("/1.0", """{"config":{"core.https_address":"not an address"}}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("core.https_address", r.Error);

        // Unknown fields are ignored as LXD does (issue 9 #17, UnknownFieldTests); a known one of the wrong type is not.
        r = await Api.PatchAsync("/1.0", """{"config":["user.a"],"confg":{}}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("config", r.Error);

        Assert.Equal(before, (await Api.GetAsync("/1.0")).Metadata.GetProperty("config").ToString());
    }

    [Fact]
    public async Task Server_put_with_a_stale_etag_is_refused()
    {
        var etag = (await Api.GetAsync("/1.0")).Headers.ETag!.Tag;
        var r = await Api.PatchAsync("/1.0", """{"config":{"user.note":"one"}}""");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        var current = (await Api.GetAsync("/1.0")).Metadata.GetProperty("config");
        var body = $$"""{"config":{{current}}}""";
        r = await Api.PutAsync("/1.0", body, etag);
        Assert.Equal(HttpStatusCode.PreconditionFailed, r.Status);
        Assert.Contains("ETag", r.Error);

        // With the fresh ETag the same PUT goes through, and "true" keeps the trust password.
        var fresh = (await Api.GetAsync("/1.0")).Headers.ETag!.Tag;
        r = await Api.PutAsync("/1.0", body.Replace("\"one\"", "\"two\""), fresh);
        Assert.Equal(HttpStatusCode.OK, r.Status);
        var after = (await Api.GetAsync("/1.0")).Metadata.GetProperty("config");
        Assert.Equal("two", after.GetProperty("user.note").GetString());
        Assert.True(after.GetProperty("core.trust_password").GetBoolean());
    }

    [Fact]
    public async Task Unknown_routes_and_methods_answer_json_errors()
    {
        var r = await Api.GetAsync("/1.0/nothing-here");
        Assert.Equal(HttpStatusCode.NotFound, r.Status);
        Assert.Equal("error", r.Type);
        Assert.Equal(404, r.Body.GetProperty("error_code").GetInt32());

        r = await Api.DeleteAsync("/1.0");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, r.Status);
        Assert.Equal("error", r.Type);
    }

    [Fact]
    public async Task A_fresh_daemon_has_the_default_project_and_an_unknown_one_is_a_404()
    {
        var r = await Api.GetAsync("/1.0/projects");
        Assert.Contains("/1.0/projects/default", r.Metadata.EnumerateArray().Select(e => e.GetString()));
        r = await Api.GetAsync("/1.0/projects/default");
        Assert.Contains("/1.0/profiles/default", r.Metadata.GetProperty("used_by").EnumerateArray().Select(e => e.GetString()));
        // LXD's answer for a project that does not exist, whatever the endpoint.
        r = await Api.GetAsync("/1.0/profiles?project=other");
        Assert.Equal(HttpStatusCode.NotFound, r.Status);
        Assert.Equal("Project not found", r.Error);
    }
}
