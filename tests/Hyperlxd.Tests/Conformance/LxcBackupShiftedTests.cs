using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// <c>lxc export</c> of a chown-shifted container (<c>HYPERLXD_IDMAPPED_MOUNTS=0</c>): the tarball holds the image's
/// ids, as LXD's does, for the volume and its snapshots; imported, the container sees its files as before.
/// </summary>
public sealed class LxcBackupShiftedTests
{
    [Fact]
    public async Task Export_unshifts_a_shifted_disk_and_its_snapshot_and_imports_back()
    {
        await Hyperlxd.Tests.Images.ImageFixture.EnsureImagesAsync();
        await using var d = await DaemonProcess.StartAsync(daemonEnv: new Dictionary<string, string> { ["HYPERLXD_IDMAPPED_MOUNTS"] = "0" });
        var dir = Path.Combine(d.Dir, "test-shifted-export");
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "shifted.tar");
        try
        {
            await d.PrepareContainersAsync(Hyperlxd.Tests.Images.ImageFixture.Busybox);
            async Task<string> Lxc(params string[] args) => (await d.LxcOkAsync(args)).Trim();
            await Lxc("launch", "busybox", "sh1");
            Assert.NotEqual("[]", await Lxc("config", "get", "sh1", "volatile.last_state.idmap"));
            await Lxc("exec", "sh1", "--", "sh", "-c", "echo one > /root/made; chown 1000:1001 /root/made");
            await Lxc("snapshot", "sh1", "s0");
            await Lxc("exec", "sh1", "--", "sh", "-c", "echo two > /root/made; chown 1002:1003 /root/made");
            await Lxc("stop", "sh1", "--force");

            await Lxc("export", "sh1", file, "--compression", "none");
            var list = await ProcessRunner.RunAsync("tar", ["-tvf", file, "--numeric-owner"]);
            Assert.True(list.ExitCode == 0, list.ToString());
            Assert.Matches(@"1002/1003 .* backup/container/rootfs/root/made", list.Stdout);
            Assert.Matches(@"1000/1001 .* backup/snapshots/s0/rootfs/root/made", list.Stdout);
            Assert.Matches(@" 0/0 .* backup/container/rootfs/etc/passwd", list.Stdout);
            Assert.DoesNotMatch(@" 10\d{5}/", list.Stdout); // no host id of the shifted range is left

            await Lxc("delete", "sh1");
            await Lxc("import", file);
            await Lxc("start", "sh1");
            Assert.Equal("1002:1003 two", await Lxc("exec", "sh1", "--", "sh", "-c", "echo $(stat -c %u:%g /root/made) $(cat /root/made)"));
            await Lxc("restore", "sh1", "s0");
            Assert.Equal("1000:1001 one", await Lxc("exec", "sh1", "--", "sh", "-c", "echo $(stat -c %u:%g /root/made) $(cat /root/made)"));
            Assert.Equal("0:0", await Lxc("exec", "sh1", "--", "stat", "-c", "%u:%g", "/etc/passwd"));
        }
        finally
        {
            await d.DeleteAllInstancesAsync();
        }
    }
}
