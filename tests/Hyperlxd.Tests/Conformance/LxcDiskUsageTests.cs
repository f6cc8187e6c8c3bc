using System.Text.Json;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;
using Hyperlxd.Tests.Storage;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// Instance state's disk usage (`disk.root.usage`, `lxc info`'s "Disk usage"): reported where the
/// pool accounts space, as LXD: btrfs with quotas on (qgroups); a dir pool reports none.
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class LxcDiskUsageTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private async Task<long?> RootUsageAsync(string name)
    {
        var state = await D.Api.GetAsync($"/1.0/instances/{name}/state");
        Assert.Equal(System.Net.HttpStatusCode.OK, state.Status);
        return state.Metadata.GetProperty("disk").TryGetProperty("root", out var root) ? root.GetProperty("usage").GetInt64() : null;
    }

    [Fact]
    public async Task Btrfs_with_quotas_reports_the_root_usage_and_it_grows_with_writes_dir_reports_none()
    {
        const string pool = "du-btrfs";
        try
        {
            await fixture.LxcOkAsync("storage", "create", pool, "btrfs", "size=1GiB");
            // A sized custom volume turns qgroup accounting on for the pool, as in LXD.
            await fixture.LxcOkAsync("storage", "volume", "create", pool, "quota-on", "size=64MiB");
            await using (var c = await fixture.LaunchAsync("du-bt", "-s", pool))
            {
                var before = await RootUsageAsync(c.Name);
                Assert.True(before is > 0, $"usage {before}");
                await fixture.LxcOkAsync("exec", c.Name, "--", "sh", "-c", "dd if=/dev/zero of=/root/blob bs=1M count=8 2>/dev/null && sync");
                long? after = null;
                for (var i = 0; i < 100 && (after = await RootUsageAsync(c.Name)) < before + 8L * 1024 * 1024; i++)
                {
                    await Task.Delay(100); // qgroup counters move at transaction commit
                }
                Assert.True(after >= before + 8L * 1024 * 1024, $"usage {before} -> {after}");
                var info = await fixture.LxcOkAsync("info", c.Name);
                Assert.Contains("Disk usage:", info);
                Assert.Contains("root:", info);
            }

            await using (var d = await fixture.LaunchAsync("du-dir"))
            {
                Assert.Null(await RootUsageAsync(d.Name));
            }
        }
        finally
        {
            await D.LxcAsync("storage", "volume", "delete", pool, "quota-on");
            await D.LxcAsync("storage", "delete", pool);
        }
        await StorageLeftovers.AssertPoolGoneAsync(D, pool);
    }
}
