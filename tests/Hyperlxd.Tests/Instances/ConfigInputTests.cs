using System.Net;
using System.Text.Json;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Instances;

/// <summary>
/// Issue 9, finding 10: NUL and JSON null in config, device paths and interface names are checked when
/// they are set (400 naming the key), and a disk's missing mount target is made inside the container.
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class ConfigInputTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;
    private ApiClient Api => D.Api;

    private async Task<JsonElement> GetAsync(string path)
    {
        var r = await Api.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, r.Status);
        return r.Metadata;
    }

    /// <summary>An update that succeeds: sync (profiles) or an operation that ends in success (instances).</summary>
    private async Task UpdateOkAsync(ApiResponse r)
    {
        Assert.True(r.Status is HttpStatusCode.OK or HttpStatusCode.Accepted, r.ToString());
        if (r.Status == HttpStatusCode.Accepted)
        {
            var done = await Api.GetAsync(r.Body.GetProperty("operation").GetString() + "/wait?timeout=90");
            Assert.True(done.Metadata.GetProperty("status").GetString() == "Success", done.ToString());
        }
    }

    private async Task<Dictionary<string, string>> ConfigAsync(string path) =>
        (await GetAsync(path)).GetProperty("config").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);

    [Fact]
    public async Task NUL_in_a_config_value_is_a_400_naming_the_key_everywhere()
    {
        await using var c = await fixture.LaunchAsync("in-nul");
        await fixture.LxcOkAsync("profile", "create", "in-nul-p");
        try
        {
            var body = """{"config":{"user.note":"a\u0000b"}}""";
            foreach (var path in new[] { "/1.0/instances/" + c.Name, "/1.0/profiles/in-nul-p", "/1.0" })
            {
                var before = (await GetAsync(path)).GetProperty("config").GetRawText();
                var patch = await Api.PatchAsync(path, body);
                Assert.True(patch.Status == HttpStatusCode.BadRequest, $"{path}: {patch}");
                Assert.Contains("user.note", patch.Error);
                Assert.Equal(before, (await GetAsync(path)).GetProperty("config").GetRawText());
            }
            var device = await Api.PatchAsync("/1.0/instances/" + c.Name, """{"devices":{"d":{"type":"disk","source":"/tmp","path":"/mnt/a\u0000b"}}}""");
            Assert.True(device.Status == HttpStatusCode.BadRequest, device.ToString());
            Assert.Contains("path", device.Error);

            var create = await Api.PostAsync("/1.0/instances", """{"name":"in-nul2","source":{"type":"image","alias":"busybox"},"config":{"user.note":"a\u0000b"}}""");
            Assert.True(create.Status == HttpStatusCode.BadRequest, create.ToString());
            Assert.Contains("user.note", create.Error);
            Assert.Equal(HttpStatusCode.NotFound, (await Api.GetAsync("/1.0/instances/in-nul2")).Status);

            // Fields that are not config: a description, a storage pool's config.
            foreach (var (method, target, json, field) in new[]
            {
                ("PATCH", "/1.0/instances/" + c.Name, """{"description":"a\u0000b"}""", "description"),
                ("PUT", "/1.0/profiles/in-nul-p", """{"description":"a\u0000b","config":{}}""", "description"),
                ("POST", "/1.0/storage-pools", """{"name":"nulpool","driver":"dir","config":{"source":"/tmp/a\u0000b"}}""", "source"),
            })
            {
                var r = method switch
                {
                    "PATCH" => await Api.PatchAsync(target, json),
                    "PUT" => await Api.PutAsync(target, json),
                    _ => await Api.PostAsync(target, json),
                };
                Assert.True(r.Status == HttpStatusCode.BadRequest, $"{method} {target}: {r}");
                Assert.Contains(field, r.Error);
            }
            Assert.Equal(HttpStatusCode.NotFound, (await Api.GetAsync("/1.0/storage-pools/nulpool")).Status);
        }
        finally
        {
            await D.LxcAsync("delete", "--force", c.Name);
            await D.LxcAsync("profile", "delete", "in-nul-p");
        }
    }

    [Fact]
    public async Task A_JSON_null_config_value_unsets_the_key_as_in_LXD()
    {
        await fixture.LxcOkAsync("init", "busybox", "in-null", "-c", "user.a=1", "-c", "user.b=2");
        await using var c = new LaunchedContainer(fixture, "in-null");
        await fixture.LxcOkAsync("profile", "create", "in-null-p");
        try
        {
            var path = "/1.0/instances/" + c.Name;
            await UpdateOkAsync(await Api.PatchAsync(path, """{"config":{"user.a":null,"user.c":"3"}}"""));
            var config = await ConfigAsync(path);
            Assert.False(config.ContainsKey("user.a"));
            Assert.Equal("2", config["user.b"]);
            Assert.Equal("3", config["user.c"]);

            var full = (await GetAsync(path)).GetProperty("config").EnumerateObject().ToDictionary(p => p.Name, p => (string?)p.Value.GetString());
            full["user.b"] = null;
            await UpdateOkAsync(await Api.PutAsync(path, JsonSerializer.Serialize(new Dictionary<string, object> { ["config"] = full })));
            Assert.False((await ConfigAsync(path)).ContainsKey("user.b"));

            await UpdateOkAsync(await Api.PatchAsync("/1.0/profiles/in-null-p", """{"config":{"user.x":"1","user.y":"2"}}"""));
            await UpdateOkAsync(await Api.PatchAsync("/1.0/profiles/in-null-p", """{"config":{"user.x":null}}"""));
            Assert.Equal(new Dictionary<string, string> { ["user.y"] = "2" }, await ConfigAsync("/1.0/profiles/in-null-p"));
            await UpdateOkAsync(await Api.PutAsync("/1.0/profiles/in-null-p", """{"config":{"user.y":null,"user.z":"3"},"devices":{}}"""));
            Assert.Equal(new Dictionary<string, string> { ["user.z"] = "3" }, await ConfigAsync("/1.0/profiles/in-null-p"));

            await UpdateOkAsync(await Api.PostAsync("/1.0/instances", """{"name":"in-null2","source":{"type":"image","alias":"busybox"},"config":{"user.n":null}}"""));
            Assert.False((await ConfigAsync("/1.0/instances/in-null2")).ContainsKey("user.n"));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "in-null2");
            await D.LxcAsync("delete", "--force", c.Name);
            await D.LxcAsync("profile", "delete", "in-null-p");
        }
    }

    [Theory]
    [InlineData("disk", "path=mnt/rel", "source=/tmp", "path")]
    [InlineData("disk", "path=/mnt/../../etc", "source=/tmp", "path")]
    [InlineData("disk", "path=/mnt/x", "source=tmp/rel", "source")]
    [InlineData("disk", "path=/mnt/x", "source=/tmp/../etc", "source")]
    [InlineData("nic", "nictype=macvlan", "parent=averyveryverylongname", "parent")]
    [InlineData("nic", "nictype=macvlan", "parent=eth0/x", "parent")]
    [InlineData("nic", "nictype=macvlan", "parent=eth 0", "parent")]
    [InlineData("nic", "nictype=macvlan", "parent=eth0:1", "parent")]
    [InlineData("nic", "nictype=macvlan", "parent=..", "parent")]
    public async Task Bad_device_paths_and_interface_names_are_a_400_naming_device_and_key(string type, string a, string b, string key)
    {
        var name = "in-dev" + Math.Abs(HashCode.Combine(a, b)) % 100000;
        await fixture.LxcOkAsync("init", "busybox", name);
        await using var c = new LaunchedContainer(fixture, name);
        var before = (await GetAsync("/1.0/instances/" + name)).GetProperty("devices").GetRawText();
        var add = await D.LxcAsync("config", "device", "add", name, "baddev", type, a, b);
        Assert.True(add.ExitCode != 0, add.ToString());
        Assert.Contains("baddev", add.Stderr);
        Assert.Contains($"\"{key}\"", add.Stderr);
        Assert.Equal(before, (await GetAsync("/1.0/instances/" + name)).GetProperty("devices").GetRawText());

        var profile = await Api.PostAsync("/1.0/profiles", JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["name"] = name,
            ["devices"] = new Dictionary<string, Dictionary<string, string>>
            {
                ["baddev"] = new[] { "type=" + type, a, b }.Select(kv => kv.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]),
            },
        }));
        Assert.True(profile.Status == HttpStatusCode.BadRequest, profile.ToString());
        Assert.Contains("baddev", profile.Error);
        await fixture.LxcOkAsync("start", name);
    }

    [Fact]
    public async Task A_missing_mount_target_is_created_inside_the_container_never_through_a_planted_symlink()
    {
        var source = Repo.TempDir("hlx-src-");
        var outside = Repo.TempDir("hlx-outside-");
        try
        {
            File.SetUnixFileMode(source, (UnixFileMode)0b111_101_101);
            await File.WriteAllTextAsync(Path.Combine(source, "f"), "hello-disk\n");
            await using var c = await fixture.LaunchAsync("in-mnt");
            // The container's root plants an absolute link named like a host directory.
            await fixture.LxcOkAsync("exec", c.Name, "--", "sh", "-c", $"mkdir -p {outside} && ln -s {outside} /esc");
            await fixture.LxcOkAsync("stop", "--force", c.Name);
            await fixture.LxcOkAsync("config", "device", "add", c.Name, "deep", "disk", $"source={source}", "path=/new/deep er/target");
            await fixture.LxcOkAsync("config", "device", "add", c.Name, "esc", "disk", $"source={source}", "path=/esc/sub/target", "readonly=true");
            await fixture.LxcOkAsync("start", c.Name);

            Assert.Equal("hello-disk\n", await fixture.LxcOkAsync("exec", c.Name, "--", "cat", "/new/deep er/target/f"));
            Assert.Equal("hello-disk\n", await fixture.LxcOkAsync("exec", c.Name, "--", "cat", "/esc/sub/target/f"));
            Assert.Empty(Directory.GetFileSystemEntries(outside));
        }
        finally
        {
            Directory.Delete(source, true);
            Directory.Delete(outside, true);
        }
    }
}
