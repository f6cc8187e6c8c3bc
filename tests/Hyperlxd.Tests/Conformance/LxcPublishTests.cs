using System.Text.Json;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;

namespace Hyperlxd.Tests.Conformance;

/// <summary>`lxc publish` (instance and snapshot sources) and pylxd's publish; the image launches at once.</summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class LxcPublishTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => fixture.LxcOkAsync(args);

    private static string Fingerprint(string publishOutput) =>
        System.Text.RegularExpressions.Regex.Match(publishOutput, "fingerprint: ([0-9a-f]{64})").Groups[1].Value;

    private async Task<JsonElement> ImageAsync(string fp) => (await D.Api.GetAsync("/1.0/images/" + fp)).Metadata;

    [Fact]
    public async Task Publish_with_alias_and_properties_then_launch_has_the_data()
    {
        await using var c = await fixture.LaunchAsync("pub-src");
        await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo published-data > /root/data; ln /root/data /root/hard");
        var running = await D.LxcAsync("publish", c.Name, "--alias", "pub-img");
        Assert.NotEqual(0, running.ExitCode); // the client refuses a running instance without --force
        var api = await D.Api.PostAsync("/1.0/images", JsonSerializer.Serialize(new { source = new { type = "instance", name = c.Name } }));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, api.Status);
        Assert.Contains("currently running", api.Error);

        await LxcOkAsync("stop", c.Name);
        var fp = Fingerprint(await LxcOkAsync("publish", c.Name, "--alias", "pub-img", "release=test1", "os=published"));
        Assert.Equal(64, fp.Length);
        try
        {
            var image = await ImageAsync(fp);
            Assert.Equal("pub-img", image.GetProperty("aliases")[0].GetProperty("name").GetString());
            Assert.Equal("test1", image.GetProperty("properties").GetProperty("release").GetString());
            Assert.Equal("published", image.GetProperty("properties").GetProperty("os").GetString());
            Assert.False(image.GetProperty("properties").TryGetProperty("description", out _), "properties given replace the image's (LXD)");
            Assert.False(image.GetProperty("public").GetBoolean());
            Assert.Equal("container", image.GetProperty("type").GetString());
            Assert.Equal("x86_64", image.GetProperty("architecture").GetString());
            // The stored file is the fingerprint's bytes: a gzip'd unified tarball by default.
            var stored = Path.Combine(D.Dir, "images", fp);
            Assert.Equal(fp, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(stored))));
            Assert.Equal(new byte[] { 0x1f, 0x8b }, (await File.ReadAllBytesAsync(stored))[..2]);

            await using var c3 = await LaunchImageAsync("pub-img", "pub-dst");
            Assert.Equal("published-data", (await LxcOkAsync("exec", c3.Name, "--", "cat", "/root/data")).Trim());
            Assert.Equal("2", (await LxcOkAsync("exec", c3.Name, "--", "stat", "-c", "%h", "/root/hard")).Trim());
            Assert.Equal("0:0", (await LxcOkAsync("exec", c3.Name, "--", "stat", "-c", "%u:%g", "/root/data")).Trim());
        }
        finally
        {
            await D.LxcAsync("image", "delete", fp);
        }
    }

    /// <summary>
    /// `lxc publish --project P` (features.images): the client finishes on the operation's events in P, the image is
    /// P's, and the default project's listeners never see the operation (a later default-project operation shows it).
    /// </summary>
    [Fact]
    public async Task Publish_in_a_project_with_its_own_images_is_announced_in_that_project_only()
    {
        await LxcOkAsync("project", "create", "pubp", "-c", "features.images=true");
        string fp = "";
        try
        {
            await LxcOkAsync("--project", "pubp", "profile", "device", "add", "default", "root", "disk", "path=/", "pool=default");
            await LxcOkAsync("--project", "pubp", "image", "import", Images.ImageFixture.Busybox, "--alias", "bb");
            await LxcOkAsync("--project", "pubp", "init", "bb", "pub-p1");
            await using var inDefault = await OperationEvents.OpenAsync(D.Socket, null);

            fp = Fingerprint(await LxcOkAsync("--project", "pubp", "publish", "pub-p1", "--alias", "pub-p-img", "--compression", "none"));
            Assert.Equal(64, fp.Length);
            Assert.Equal(fp, (await D.Api.GetAsync("/1.0/images/aliases/pub-p-img?project=pubp")).Metadata.GetProperty("target").GetString());
            Assert.Equal(System.Net.HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/images/aliases/pub-p-img")).Status);
            Assert.Contains(fp[..12], await LxcOkAsync("--project", "pubp", "image", "list", "--format", "csv", "-c", "F"));

            var marker = await D.Api.PostAsync("/1.0/images", """{"source":{"type":"url","url":"http://127.0.0.1:1/none"}}""");
            Assert.True(marker.Status == System.Net.HttpStatusCode.Accepted, marker.ToString());
            var seen = await inDefault.UntilFinalAsync(marker.Metadata.GetProperty("id").GetString()!);
            Assert.DoesNotContain(seen, e => e.Operation.ToString().Contains("pubp", StringComparison.Ordinal) || e.Operation.ToString().Contains(fp, StringComparison.Ordinal));
        }
        finally
        {
            if (fp.Length > 0)
            {
                await D.LxcAsync("--project", "pubp", "image", "delete", fp);
            }
            await D.LxcAsync("--project", "pubp", "delete", "--force", "pub-p1");
            await D.LxcAsync("--project", "pubp", "image", "delete", "bb");
            await D.LxcAsync("project", "delete", "pubp");
        }
    }

    /// <summary>`lxc launch IMAGE NAME` (the fixture's launch is for busybox only).</summary>
    private async Task<LaunchedContainer> LaunchImageAsync(string image, string name)
    {
        await D.LxcAsync("delete", "--force", name);
        await LxcOkAsync("launch", image, name);
        return new LaunchedContainer(fixture, name);
    }

    [Fact]
    public async Task Publish_a_snapshot_has_the_snapshot_data()
    {
        await using var c = await fixture.LaunchAsync("pub-snap-src");
        await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo v1 > /root/data");
        await LxcOkAsync("snapshot", c.Name, "snap0");
        await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo v2 > /root/data");
        // A snapshot publishes while the instance runs.
        var fp = Fingerprint(await LxcOkAsync("publish", c.Name + "/snap0", "--alias", "pub-snap"));
        try
        {
            await using var c2 = await LaunchImageAsync("pub-snap", "pub-snap-dst");
            Assert.Equal("v1", (await LxcOkAsync("exec", c2.Name, "--", "cat", "/root/data")).Trim());
            Assert.Equal("v2", (await LxcOkAsync("exec", c.Name, "--", "cat", "/root/data")).Trim());
        }
        finally
        {
            await D.LxcAsync("image", "delete", fp);
        }
    }

    [Theory]
    [InlineData("none", new byte[] { })]
    [InlineData("xz", new byte[] { 0xfd, 0x37, 0x7a, 0x58, 0x5a })]
    [InlineData("zstd", new byte[] { 0x28, 0xb5, 0x2f, 0xfd })]
    public async Task Public_and_compression_choice(string algorithm, byte[] magic)
    {
        await using var c = await fixture.LaunchAsync("pub-comp-" + algorithm);
        await LxcOkAsync("stop", c.Name);
        var fp = Fingerprint(await LxcOkAsync("publish", c.Name, "--public", "--compression", algorithm, "--expire", "2099-01-02T03:04:05Z"));
        try
        {
            var image = await ImageAsync(fp);
            Assert.True(image.GetProperty("public").GetBoolean());
            Assert.StartsWith("2099-01-02T03:04:05", image.GetProperty("expires_at").GetString());
            var head = (await File.ReadAllBytesAsync(Path.Combine(D.Dir, "images", fp)))[..512];
            if (magic.Length == 0)
            {
                Assert.Equal("ustar"u8.ToArray(), head[257..262]); // plain tar
            }
            else
            {
                Assert.Equal(magic, head[..magic.Length]);
            }
            await using var c2 = await LaunchImageAsync(fp, "pub-comp-dst");
            Assert.Equal(0, (await D.LxcAsync("exec", c2.Name, "--", "true")).ExitCode);
        }
        finally
        {
            await D.LxcAsync("image", "delete", fp);
        }
    }

    [Fact]
    public async Task Bad_publish_requests_are_400s_naming_the_field()
    {
        await using var c = await fixture.LaunchAsync("pub-bad");
        await LxcOkAsync("stop", c.Name);
        var cases = new (object Body, string Says)[]
        {
            (new { source = new { type = "snapshot", name = c.Name } }, "source.name"),
            (new { source = new { type = "instance", name = c.Name + "/snap" } }, "source.name"),
            (new { source = new { type = "instance", name = c.Name }, compression_algorithm = "gzip; rm -rf /" }, "compression_algorithm"),
            (new { source = new { type = "instance", name = c.Name }, aliases = new[] { new { name = "a/b" } } }, "lias"),
            (new { source = new { type = "instance", name = "" } }, "source"),
        };
        foreach (var (body, says) in cases)
        {
            var r = await D.Api.PostAsync("/1.0/images", JsonSerializer.Serialize(body));
            Assert.True(r.Status == System.Net.HttpStatusCode.BadRequest, $"{JsonSerializer.Serialize(body)}: {r.Status} {r.Error}");
            Assert.Contains(says, r.Error);
        }
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await D.Api.PostAsync("/1.0/images", JsonSerializer.Serialize(new { source = new { type = "instance", name = "no-such" } }))).Status);
    }

    [Fact]
    public async Task Publish_a_stopped_vm_flattens_its_disk()
    {
        await D.LxcAsync("image", "delete", "pub-vm-base");
        await LxcOkAsync("image", "import", Path.Combine(Hyperlxd.Tests.Images.ImageFixture.ArtifactsDir, "vm.tar.gz"), "--alias", "pub-vm-base");
        string? fp = null;
        try
        {
            await LxcOkAsync("init", "--vm", "pub-vm-base", "pub-vm");
            fp = Fingerprint(await LxcOkAsync("publish", "pub-vm", "--alias", "pub-vm-img", "--compression", "none"));
            Assert.Equal("virtual-machine", (await ImageAsync(fp)).GetProperty("type").GetString());
            // The disk in the image is standalone (the instance's is an overlay on the pool's cached image).
            var dir = Repo.TempDir("hlx-pubvm-");
            try
            {
                var x = await ProcessRunner.RunAsync("tar", ["-xf", Path.Combine(D.Dir, "images", fp), "-C", dir, "rootfs.img", "metadata.yaml"]);
                Assert.True(x.ExitCode == 0, x.ToString());
                var info = await ProcessRunner.RunAsync("qemu-img", ["info", "--output=json", Path.Combine(dir, "rootfs.img")]);
                Assert.True(info.ExitCode == 0, info.ToString());
                Assert.Contains("\"format\": \"qcow2\"", info.Stdout);
                Assert.DoesNotContain("backing-filename", info.Stdout);
            }
            finally
            {
                Directory.Delete(dir, true);
            }
            await LxcOkAsync("init", "--vm", "pub-vm-img", "pub-vm2");
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "pub-vm2");
            await D.LxcAsync("delete", "--force", "pub-vm");
            if (fp is not null)
            {
                await D.LxcAsync("image", "delete", fp);
            }
            await D.LxcAsync("image", "delete", "pub-vm-base");
        }
    }

    [Fact]
    public async Task Pylxd_publish_waits_and_returns_the_image()
    {
        await using var c = await fixture.LaunchAsync("pub-py");
        await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo from-pylxd > /root/data");
        await LxcOkAsync("stop", c.Name);
        var r = await D.PythonAsync($$"""
            import warnings, pylxd
            warnings.simplefilter('ignore')
            c = pylxd.Client()
            img = c.containers.get('{{c.Name}}').publish(public=True, wait=True)
            print('image', img.fingerprint, img.public)
            """);
        Assert.True(r.ExitCode == 0, r.ToString());
        var fp = System.Text.RegularExpressions.Regex.Match(r.Stdout, "image ([0-9a-f]{64}) True").Groups[1].Value;
        Assert.True(fp.Length == 64, r.Stdout);
        try
        {
            await using var c2 = await LaunchImageAsync(fp, "pub-py-dst");
            Assert.Equal("from-pylxd", (await LxcOkAsync("exec", c2.Name, "--", "cat", "/root/data")).Trim());
        }
        finally
        {
            await D.LxcAsync("image", "delete", fp);
        }
    }
}

/// <summary>`lxc publish` of a chown-shifted disk (<c>HYPERLXD_IDMAPPED_MOUNTS=0</c>): the tarball holds the image's ids.</summary>
public sealed class LxcPublishShiftedTests
{
    [Fact]
    public async Task Publish_unshifts_a_shifted_disk()
    {
        await Hyperlxd.Tests.Images.ImageFixture.EnsureImagesAsync();
        await using var d = await DaemonProcess.StartAsync(daemonEnv: new Dictionary<string, string> { ["HYPERLXD_IDMAPPED_MOUNTS"] = "0" });
        try
        {
            await d.PrepareContainersAsync(Hyperlxd.Tests.Images.ImageFixture.Busybox);
            async Task<string> Lxc(params string[] args) => (await d.LxcOkAsync(args)).Trim();
            await Lxc("launch", "busybox", "shifted");
            Assert.NotEqual("[]", await Lxc("config", "get", "shifted", "volatile.last_state.idmap"));
            await Lxc("exec", "shifted", "--", "sh", "-c", "echo x > /root/made; chown 1000:1001 /root/made");
            await Lxc("stop", "shifted");
            var fp = System.Text.RegularExpressions.Regex.Match(await Lxc("publish", "shifted", "--compression", "none"), "fingerprint: ([0-9a-f]{64})").Groups[1].Value;
            var list = await ProcessRunner.RunAsync("tar", ["-tvf", Path.Combine(d.Dir, "images", fp), "--numeric-owner", "rootfs/root/made", "rootfs/etc/passwd"]);
            Assert.True(list.ExitCode == 0, list.ToString());
            Assert.Matches(@"1000/1001 .* rootfs/root/made", list.Stdout);
            Assert.Matches(@" 0/0 .* rootfs/etc/passwd", list.Stdout);
            await Lxc("launch", fp, "from-shifted");
            Assert.Equal("1000:1001", await Lxc("exec", "from-shifted", "--", "stat", "-c", "%u:%g", "/root/made"));
        }
        finally
        {
            await d.DeleteAllInstancesAsync();
        }
    }
}
