using System.Security.Cryptography;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Images;

/// <summary>The stock lxc 5.0.2 client and pylxd 2.2.10 driving the image store.</summary>
[Collection(ImageCollection.Name)]
public sealed class ImageClientTests(ImageFixture fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private async Task<string> LxcAsync(params string[] args)
    {
        var r = await D.LxcAsync(args);
        Assert.True(r.ExitCode == 0, $"lxc {string.Join(' ', args)}: {r}");
        return r.Stdout;
    }

    private static string Sha256File(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    [Fact]
    public async Task Lxc_image_import_list_alias_export_delete()
    {
        var unifiedFp = Sha256File(ImageFixture.Busybox);
        var output = await LxcAsync("image", "import", ImageFixture.Busybox, "--alias", "bb");
        Assert.Contains(unifiedFp, output);

        output = await LxcAsync("image", "import", ImageFixture.BusyboxMeta, ImageFixture.BusyboxSquashfs, "--alias", "bbsq");
        var splitFp = output.Trim().Split(' ')[^1];
        Assert.Equal(64, splitFp.Length);

        var list = await LxcAsync("image", "list", "--format", "csv");
        Assert.Contains($"bb,{unifiedFp[..12]},no,Busybox x86_64,x86_64,CONTAINER", list);
        Assert.Contains($"bbsq,{splitFp[..12]},no,Busybox x86_64,x86_64,CONTAINER", list);

        await LxcAsync("image", "alias", "create", "bb-extra", unifiedFp[..12]);
        Assert.Contains("bb-extra", await LxcAsync("image", "alias", "list", "--format", "csv"));
        await LxcAsync("image", "alias", "delete", "bb-extra");
        Assert.DoesNotContain("bb-extra", await LxcAsync("image", "alias", "list", "--format", "csv"));
        var dup = await D.LxcAsync("image", "alias", "create", "bb", splitFp);
        Assert.NotEqual(0, dup.ExitCode);
        Assert.Contains("already exists", dup.Stderr);

        var show = await LxcAsync("image", "show", "bb");
        Assert.Contains("os: busybox", show);

        var dir = Repo.TempDir("hlx-img-export-");
        try
        {
            await LxcAsync("image", "export", "bb", Path.Combine(dir, "unified"));
            var exported = Directory.GetFiles(dir).Single();
            Assert.Equal(unifiedFp, Sha256File(exported));

            await LxcAsync("image", "export", "bbsq", Path.Combine(dir, "split"));
            var meta = Path.Combine(dir, "split");
            var rootfs = Path.Combine(dir, "split.root");
            Assert.Equal(Sha256File(ImageFixture.BusyboxMeta), Sha256File(meta));
            Assert.Equal(Sha256File(ImageFixture.BusyboxSquashfs), Sha256File(rootfs));
            var both = await ProcessRunner.RunAsync("sh", new[] { "-c", $"cat '{meta}' '{rootfs}' | sha256sum" });
            Assert.StartsWith(splitFp, both.Stdout);
        }
        finally
        {
            Directory.Delete(dir, true);
        }

        await LxcAsync("image", "delete", "bb", "bbsq");
        Assert.Equal("", (await LxcAsync("image", "list", "--format", "csv")).Trim());
        Assert.Equal("files=[] images=0 aliases=0", await fixture.StoreStateAsync());
    }

    [Fact]
    public async Task Lxc_split_import_with_tarball_rootfs()
    {
        var output = await LxcAsync("image", "import", ImageFixture.BusyboxMeta, ImageFixture.BusyboxRootfs);
        var fp = output.Trim().Split(' ')[^1];
        Assert.Contains(fp[..12], await LxcAsync("image", "list", "--format", "csv"));
        await LxcAsync("image", "delete", fp);
        Assert.Equal("files=[] images=0 aliases=0", await fixture.StoreStateAsync());
    }

    [Fact]
    public async Task Pylxd_upload_properties_export_delete()
    {
        var script = $$"""
            import warnings, hashlib, pylxd
            warnings.simplefilter('ignore')
            c = pylxd.Client()
            data = open('{{ImageFixture.Busybox}}', 'rb').read()
            i = c.images.create(data, public=True, wait=True)
            print(i.fingerprint == hashlib.sha256(data).hexdigest(), i.public, i.properties['os'])
            i.properties['purpose'] = 'tests'
            i.save()
            print(c.images.get(i.fingerprint).properties['purpose'])
            print(hashlib.sha256(i.export().read()).hexdigest() == i.fingerprint)
            i.delete(wait=True)
            print(c.images.exists(i.fingerprint))
            """;
        var r = await D.PythonAsync(script);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("True True busybox\ntests\nTrue\nFalse", r.Stdout.Trim());
        Assert.Equal("files=[] images=0 aliases=0", await fixture.StoreStateAsync());
    }
}
