using System.Security.Cryptography;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Images;

/// <summary><c>hlx image ...</c> against the image daemon.</summary>
[Collection(ImageCollection.Name)]
public sealed class HlxImageTests(ImageFixture fixture)
{
    private static string Hlx => Path.Combine(Path.GetDirectoryName(Repo.DaemonBinary)!, "hlx");

    private async Task<string> HlxAsync(string conf, params string[] args)
    {
        var r = await ProcessRunner.RunAsync(Hlx, args, new Dictionary<string, string>(fixture.Daemon.Env) { ["HLX_CONF"] = conf });
        Assert.True(r.ExitCode == 0, $"hlx {string.Join(' ', args)}: {r}");
        return r.Stdout;
    }

    private static string Sha256File(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    [Fact]
    public async Task Import_list_alias_export_delete()
    {
        var dir = Repo.TempDir("hlx-image-cli-");
        try
        {
            var conf = Path.Combine(dir, "conf");
            var fp = Sha256File(ImageFixture.Busybox);
            Assert.Contains(fp, await HlxAsync(conf, "image", "import", ImageFixture.Busybox, "--alias", "hb"));
            var split = (await HlxAsync(conf, "image", "import", ImageFixture.BusyboxMeta, ImageFixture.BusyboxSquashfs, "--public")).Trim().Split(' ')[^1];
            var list = await HlxAsync(conf, "image", "list");
            Assert.Contains($"| hb    | {fp[..12]} | no", list);
            Assert.Contains($"{split[..12]} | yes", list);

            await HlxAsync(conf, "image", "alias", "create", "hs", split[..12]);
            await HlxAsync(conf, "image", "alias", "rename", "hs", "hs2");
            var aliases = await HlxAsync(conf, "image", "alias", "list", "--format", "json");
            Assert.Contains("\"hs2\"", aliases);
            await HlxAsync(conf, "image", "alias", "delete", "hs2");
            Assert.Contains("os: busybox", await HlxAsync(conf, "image", "show", "hb"));

            var export = Path.Combine(dir, "export");
            Directory.CreateDirectory(export);
            await HlxAsync(conf, "image", "export", "hb", export);
            Assert.Equal(fp, Sha256File(Path.Combine(export, "busybox.tar.gz")));
            await HlxAsync(conf, "image", "export", split, Path.Combine(export, "split"));
            Assert.Equal(Sha256File(ImageFixture.BusyboxMeta), Sha256File(Path.Combine(export, "split")));
            Assert.Equal(Sha256File(ImageFixture.BusyboxSquashfs), Sha256File(Path.Combine(export, "split.root")));

            await HlxAsync(conf, "image", "delete", "hb", split);
            Assert.Equal("[]", (await HlxAsync(conf, "image", "list", "--format", "json")).Trim());
        }
        finally
        {
            Directory.Delete(dir, true);
        }
        Assert.Equal("files=[] images=0 aliases=0", await fixture.StoreStateAsync());
    }
}
