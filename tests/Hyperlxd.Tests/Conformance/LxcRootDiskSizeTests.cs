using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;
using Hyperlxd.Tests.Storage;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// The root disk's <c>size</c> (LXD's root quota) with the stock client: enforced on btrfs (a qgroup
/// limit), changed live on a running container, kept through a snapshot restore; accepted but not
/// enforced on dir (as LXD without project quotas); a malformed size refused with the key named.
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class LxcRootDiskSizeTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    /// <summary>Writes <paramref name="mib"/> MiB into the container's root; the exit code of dd (+ sync).</summary>
    private async Task<int> WriteAsync(string name, int mib)
    {
        var r = await D.LxcAsync("exec", name, "--", "sh", "-c", $"rm -f /root/blob; sync; dd if=/dev/zero of=/root/blob bs=1M count={mib} 2>&1 && sync");
        return r.ExitCode;
    }

    [Fact]
    public async Task Btrfs_root_size_is_enforced_changed_live_and_kept_by_restore()
    {
        const string pool = "rs-btrfs";
        try
        {
            await fixture.LxcOkAsync("storage", "create", pool, "btrfs", "size=1GiB");
            await using var c = await fixture.LaunchAsync("rs-bt", "-s", pool, "-d", "root,size=32MiB");
            Assert.NotEqual(0, await WriteAsync(c.Name, 64));
            Assert.Equal(0, await WriteAsync(c.Name, 8));

            // Live, on the running container, and what the volume records.
            await fixture.LxcOkAsync("config", "device", "set", c.Name, "root", "size=128MiB");
            Assert.Equal(0, await WriteAsync(c.Name, 64));
            Assert.Contains("size: 128MiB", await fixture.LxcOkAsync("storage", "volume", "show", pool, "container/" + c.Name));

            // Malformed: refused, naming the key; nothing changed.
            var bad = await D.LxcAsync("config", "device", "set", c.Name, "root", "size=lots");
            Assert.NotEqual(0, bad.ExitCode);
            Assert.Contains("\"size\"", bad.Stderr);
            Assert.Contains("size: 128MiB", await fixture.LxcOkAsync("config", "device", "show", c.Name));
            Assert.Equal(0, await WriteAsync(c.Name, 64));

            // A snapshot taken at 128MiB restores that size along with the devices.
            await fixture.LxcOkAsync("snapshot", c.Name, "big");
            await fixture.LxcOkAsync("config", "device", "set", c.Name, "root", "size=32MiB");
            Assert.NotEqual(0, await WriteAsync(c.Name, 64));
            await fixture.LxcOkAsync("restore", c.Name, "big");
            Assert.Contains("size: 128MiB", await fixture.LxcOkAsync("config", "device", "show", c.Name));
            Assert.Equal(0, await WriteAsync(c.Name, 64));

            // Lifting the size lifts the limit.
            await fixture.LxcOkAsync("config", "device", "unset", c.Name, "root", "size");
            Assert.Equal(0, await WriteAsync(c.Name, 200));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "rs-bt");
            await D.LxcAsync("storage", "delete", pool);
        }
        await StorageLeftovers.AssertPoolGoneAsync(D, pool);
    }

    [Fact]
    public async Task Dir_root_size_is_accepted_not_enforced_and_a_malformed_one_is_refused()
    {
        await using (var c = await fixture.LaunchAsync("rs-dir", "-d", "root,size=32MiB"))
        {
            Assert.Equal(0, await WriteAsync(c.Name, 64));
            Assert.Contains("size: 32MiB", await fixture.LxcOkAsync("config", "device", "show", c.Name));
        }

        var bad = await D.LxcAsync("launch", "busybox", "rs-bad", "-d", "root,size=lots");
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("invalid value for \"size\"", bad.Stderr);
        Assert.NotEqual(0, (await D.LxcAsync("info", "rs-bad")).ExitCode); // not created
    }
}
