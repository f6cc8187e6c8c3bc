using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Storage;

namespace Hyperlxd.Tests.Conformance;

/// <summary>The stock lxc 5.0.2 client and pylxd 2.2.10 on storage pools and custom volumes.</summary>
[Collection(SharedDaemonCollection.Name)]
public sealed class StorageClientTests(SharedDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private async Task<string> LxcOk(params string[] args)
    {
        var r = await D.LxcAsync(args);
        Assert.True(r.ExitCode == 0, $"lxc {string.Join(' ', args)}: {r}");
        return r.Stdout;
    }

    [Fact]
    public async Task Lxc_storage_create_list_show_volume_snapshot_delete()
    {
        try
        {
            Assert.Contains("Storage pool lxc-p1 created", await LxcOk("storage", "create", "lxc-p1", "dir"));
            Assert.Contains("Storage pool lxc-p2 created", await LxcOk("storage", "create", "lxc-p2", "btrfs", "size=1GiB"));
            var list = await LxcOk("storage", "list");
            Assert.Contains("lxc-p1", list);
            Assert.Contains("lxc-p2", list);
            Assert.Contains("btrfs", list);
            var show = await LxcOk("storage", "show", "lxc-p2");
            Assert.Contains("driver: btrfs", show);
            Assert.Contains("size: 1GiB", show);

            foreach (var pool in new[] { "lxc-p1", "lxc-p2" })
            {
                await LxcOk("storage", "volume", "create", pool, "vol1");
                Assert.Contains("vol1", await LxcOk("storage", "volume", "list", pool));
                // Snapshot create and delete are operations: lxc waits for their events on /1.0/events.
                await LxcOk("storage", "volume", "snapshot", pool, "vol1", "snap0");
                Assert.True(Directory.Exists(Path.Combine(D.Dir, "storage-pools", pool, "custom-snapshots", "vol1", "snap0")));
                await LxcOk("storage", "volume", "snapshot", pool, "vol1", "snap1");
                await LxcOk("storage", "volume", "delete", pool, "vol1/snap1");
                Assert.False(Directory.Exists(Path.Combine(D.Dir, "storage-pools", pool, "custom-snapshots", "vol1", "snap1")));
                await LxcOk("storage", "volume", "delete", pool, "vol1");
                await StorageLeftovers.AssertVolumeGoneAsync(D, pool, "vol1");
            }

            var bad = await D.LxcAsync("storage", "create", "lxc-bad", "lvm");
            Assert.NotEqual(0, bad.ExitCode);
            Assert.Contains("not available", bad.Stderr);
            await StorageLeftovers.AssertPoolGoneAsync(D, "lxc-bad");
        }
        finally
        {
            await D.LxcAsync("storage", "delete", "lxc-p1");
            await D.LxcAsync("storage", "delete", "lxc-p2");
        }
        await StorageLeftovers.AssertPoolGoneAsync(D, "lxc-p1");
        await StorageLeftovers.AssertPoolGoneAsync(D, "lxc-p2");
    }

    [Fact]
    public async Task Pylxd_pool_and_custom_volume_crud()
    {
        try
        {
            var r = await D.PythonAsync("""
                import warnings, pylxd
                warnings.simplefilter('ignore')
                c = pylxd.Client()
                p = c.storage_pools.create({'name': 'py-pool', 'driver': 'dir', 'description': 'x'})
                print(c.storage_pools.exists('py-pool'), p.driver)
                p = c.storage_pools.get('py-pool')
                p.description = 'changed'
                p.save()
                print(c.storage_pools.get('py-pool').description)
                v = p.volumes.create('custom', {'name': 'py-vol', 'config': {'user.a': 'b'}})
                v = p.volumes.get('custom', 'py-vol')
                print(v.name, v.config['user.a'], [x.name for x in p.volumes.all()])
                v.config['user.a'] = 'c'
                v.save()
                print(p.volumes.get('custom', 'py-vol').config['user.a'])
                v.delete()
                print([x.name for x in p.volumes.all()])
                try:
                    c.storage_pools.create({'name': 'py-bad', 'driver': 'zfs'})
                except pylxd.exceptions.LXDAPIException as e:
                    print('refused', 'zfs' in str(e))
                p.delete()
                print(c.storage_pools.exists('py-pool'))
                """);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Equal("True dir\nchanged\npy-vol b ['py-vol']\nc\n[]\nrefused True\nFalse", r.Stdout.Trim());
        }
        finally
        {
            await D.Api.DeleteAsync("/1.0/storage-pools/py-pool/volumes/custom/py-vol");
            await D.Api.DeleteAsync("/1.0/storage-pools/py-pool");
        }
        await StorageLeftovers.AssertPoolGoneAsync(D, "py-pool");
        await StorageLeftovers.AssertPoolGoneAsync(D, "py-bad");
    }
}
