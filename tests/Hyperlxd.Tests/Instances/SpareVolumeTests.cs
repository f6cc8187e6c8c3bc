using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Instances;

/// <summary>
/// dir pools keep one ready copy of a launched image (".spare-FP" next to the instance volumes): the
/// next create takes it by rename and a new one is made in the background. A daemon of its own: the
/// test deletes the image and restarts the daemon.
/// </summary>
public sealed class SpareVolumeTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "gave up waiting: " + what);
            await Task.Delay(20);
        }
    }

    private static string[] Tree(string root) =>
        Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(root, p)).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public async Task Creates_take_the_spare_copy_which_is_refilled_and_goes_with_its_image_and_partial_ones_with_a_restart()
    {
        await ImageFixture.EnsureImagesAsync();
        await using var d = await DaemonProcess.StartAsync();
        await d.PrepareContainersAsync(ImageFixture.Busybox);
        var fp = (await d.Api.GetAsync("/1.0/images/aliases/busybox")).Metadata.GetProperty("target").GetString()!;
        var containers = Path.Combine(d.Dir, "storage-pools", "default", "containers");
        var spare = Path.Combine(containers, ".spare-" + fp);
        var image = Path.Combine(d.Dir, "storage-pools", "default", "images", fp);

        // First create: a plain copy; the spare appears behind it.
        Assert.Equal(0, (await d.LxcAsync("init", "busybox", "s1")).ExitCode);
        await WaitForAsync(() => Directory.Exists(spare), "the first spare");
        Assert.Equal(Tree(image), Tree(spare));
        var spareInode = await InodeAsync(spare);

        // Second create: it is the spare (same directory inode), and a new spare follows.
        Assert.Equal(0, (await d.LxcAsync("init", "busybox", "s2")).ExitCode);
        Assert.Equal(spareInode, await InodeAsync(Path.Combine(containers, "s2")));
        await WaitForAsync(() => Directory.Exists(spare), "the refilled spare");
        Assert.Equal(Tree(image), Tree(Path.Combine(containers, "s2")));
        // The instance made from the spare is a normal, independent container.
        var start = await d.LxcAsync("start", "s2");
        Assert.True(start.ExitCode == 0, start.ToString());
        var exec = await d.LxcAsync("exec", "s2", "--", "sh", "-c", "echo changed > /etc/motd-spare; cat /etc/motd-spare");
        Assert.Equal("changed", exec.Stdout.Trim());
        Assert.False(File.Exists(Path.Combine(spare, "rootfs", "etc", "motd-spare")));
        Assert.False(File.Exists(Path.Combine(image, "rootfs", "etc", "motd-spare")));

        // A restart keeps a complete spare and deletes what a crash mid-refill (or a lost image) leaves.
        var partial = Path.Combine(containers, ".spare-" + fp + ".partial");
        var orphan = Path.Combine(containers, ".spare-" + new string('0', 64));
        Directory.CreateDirectory(Path.Combine(partial, "rootfs"));
        Directory.CreateDirectory(Path.Combine(orphan, "rootfs"));
        await d.StopAsync();
        await d.StartAsync();
        Assert.True(Directory.Exists(spare));
        Assert.False(Directory.Exists(partial));
        Assert.False(Directory.Exists(orphan));

        // No spare outlives its image; instances made from it stay.
        foreach (var n in new[] { "s1", "s2" })
        {
            Assert.Equal(0, (await d.LxcAsync("delete", "--force", n)).ExitCode);
        }
        var del = await d.LxcAsync("image", "delete", "busybox");
        Assert.True(del.ExitCode == 0, del.ToString());
        Assert.False(Directory.Exists(spare));
        Assert.Empty(Directory.EnumerateFileSystemEntries(containers));
    }

    [Fact]
    public async Task An_image_volume_cut_short_by_a_crash_is_unpacked_again_not_used()
    {
        await ImageFixture.EnsureImagesAsync();
        await using var d = await DaemonProcess.StartAsync();
        await d.PrepareContainersAsync(ImageFixture.Busybox);
        var fp = (await d.Api.GetAsync("/1.0/images/aliases/busybox")).Metadata.GetProperty("target").GetString()!;
        var image = Path.Combine(d.Dir, "storage-pools", "default", "images", fp);
        Assert.False(Directory.Exists(image));

        // What a daemon killed mid-unpack leaves: part of the rootfs, and no volume record.
        Directory.CreateDirectory(Path.Combine(image, "rootfs", "etc"));
        await File.WriteAllTextAsync(Path.Combine(image, "rootfs", "etc", "half-written"), "x");
        Assert.Equal("0", await d.QueryScalarAsync($"SELECT count(*) FROM storage_volumes WHERE name = '{fp}'"));

        var launch = await d.LxcAsync("launch", "busybox", "p1");
        Assert.True(launch.ExitCode == 0, launch.ToString());
        Assert.Equal("ok", (await d.LxcAsync("exec", "p1", "--", "sh", "-c", "test -x /bin/busybox && echo ok")).Stdout.Trim());
        Assert.False(File.Exists(Path.Combine(image, "rootfs", "etc", "half-written")));
        Assert.True(File.Exists(Path.Combine(image, "rootfs", "bin", "busybox")));
        Assert.Equal("1", await d.QueryScalarAsync($"SELECT count(*) FROM storage_volumes WHERE name = '{fp}' AND type = 'image'"));
        Assert.Equal(0, (await d.LxcAsync("delete", "--force", "p1")).ExitCode);
    }

    private static async Task<ulong> InodeAsync(string path)
    {
        var r = await ProcessRunner.RunAsync("stat", new[] { "-c", "%i", path });
        Assert.Equal(0, r.ExitCode);
        return ulong.Parse(r.Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
