using System.Net;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// Issue 10: device types (and, since issue 11, nic types and proxy modes) that are not implemented yet
/// are refused with a 400 naming the device and what is missing, on instances and on profiles, through
/// the stock lxc client; disk devices work as before.
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class LxcDeviceTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private async Task<string> DevicesAsync(string path) => (await D.Api.GetAsync(path)).Metadata.GetProperty("devices").GetRawText();

    [Fact]
    public async Task Lxc_refuses_an_unsupported_nictype_on_an_instance_and_a_unix_proxy_on_a_profile_naming_them()
    {
        await fixture.LxcOkAsync("init", "busybox", "dev-nic");
        await using var c = new LaunchedContainer(fixture, "dev-nic");
        var before = await DevicesAsync("/1.0/instances/dev-nic");
        var nic = await D.LxcAsync("config", "device", "add", "dev-nic", "eth0", "nic", "nictype=macvlan", "parent=lo");
        Assert.True(nic.ExitCode != 0, nic.ToString());
        Assert.Contains("Device \"eth0\": nictype \"macvlan\" is not supported yet", nic.Stderr);
        Assert.Equal(before, await DevicesAsync("/1.0/instances/dev-nic"));

        var profileBefore = await DevicesAsync("/1.0/profiles/default");
        var proxy = await D.LxcAsync("profile", "device", "add", "default", "x", "proxy", "listen=unix:/run/x.sock", "connect=tcp:127.0.0.1:80");
        Assert.True(proxy.ExitCode != 0, proxy.ToString());
        Assert.Contains("Device \"x\": proxy device \"listen\": unix sockets are not supported yet", proxy.Stderr);
        Assert.Equal(profileBefore, await DevicesAsync("/1.0/profiles/default"));
    }

    [Theory]
    [InlineData("usb", """{"type":"usb","vendorid":"1d6b"}""")]
    [InlineData("infiniband", """{"type":"infiniband","nictype":"physical","parent":"ib0"}""")]
    [InlineData("gpu", """{"type":"gpu"}""")]
    [InlineData("tpm", """{"type":"tpm","path":"/dev/tpm0"}""")]
    public async Task Every_api_write_refuses_a_device_type_not_implemented_yet(string type, string device)
    {
        var name = "dev-" + type;
        var expected = $"Device \"d\": type \"{type}\" is not supported yet";
        void Refused(ApiResponse r)
        {
            Assert.True(r.Status == HttpStatusCode.BadRequest, r.ToString());
            Assert.Contains(expected, r.Error);
        }

        Refused(await D.Api.PostAsync("/1.0/instances", $$$"""{"name":"{{{name}}}","source":{"type":"image","alias":"busybox"},"devices":{"d":{{{device}}}}}"""));
        Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/instances/" + name)).Status);
        Refused(await D.Api.PostAsync("/1.0/profiles", $$$"""{"name":"{{{name}}}","devices":{"d":{{{device}}}}}"""));

        await fixture.LxcOkAsync("init", "busybox", name);
        await using var c = new LaunchedContainer(fixture, name);
        await fixture.LxcOkAsync("profile", "create", name);
        try
        {
            foreach (var path in new[] { "/1.0/instances/" + name, "/1.0/profiles/" + name })
            {
                var before = await DevicesAsync(path);
                Refused(await D.Api.PatchAsync(path, $$$"""{"devices":{"d":{{{device}}}}}"""));
                Refused(await D.Api.PutAsync(path, $$$"""{"config":{},"devices":{"d":{{{device}}}}}"""));
                Assert.Equal(before, await DevicesAsync(path));
            }
        }
        finally
        {
            await D.LxcAsync("profile", "delete", name);
        }
    }

    [Fact]
    public async Task Lxc_config_device_add_of_a_host_disk_still_mounts_it()
    {
        var source = Repo.TempDir("hlx-dev-src-");
        try
        {
            File.SetUnixFileMode(source, (UnixFileMode)0b111_101_101);
            await File.WriteAllTextAsync(Path.Combine(source, "f"), "hello-device\n");
            await fixture.LxcOkAsync("init", "busybox", "dev-disk");
            await using var c = new LaunchedContainer(fixture, "dev-disk");
            await fixture.LxcOkAsync("config", "device", "add", "dev-disk", "d", "disk", $"source={source}", "path=/mnt");
            await fixture.LxcOkAsync("start", "dev-disk");
            Assert.Equal("hello-device\n", await fixture.LxcOkAsync("exec", "dev-disk", "--", "cat", "/mnt/f"));
        }
        finally
        {
            Directory.Delete(source, true);
        }
    }
}
