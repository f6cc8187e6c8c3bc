using System.Net;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;

namespace Hyperlxd.Tests.Conformance;

/// <summary><c>lxc storage volume copy</c> and <c>move</c> (<c>storage_api_local_volume_handling</c>): within a pool, across pools, of a snapshot.</summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class LxcVolumeCopyTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => fixture.LxcOkAsync(args);

    private string VolumePath(string pool, string volume) => Path.Combine(D.Dir, "storage-pools", pool, "custom", volume);

    private string Read(string pool, string volume) => File.ReadAllText(Path.Combine(VolumePath(pool, volume), "data"));

    private async Task<List<string>> SnapshotsAsync(string pool, string volume)
    {
        var r = await D.Api.GetAsync($"/1.0/storage-pools/{pool}/volumes/custom/{volume}/snapshots");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        return r.Metadata.EnumerateArray().Select(e => e.GetString()!.Split('/')[^1]).ToList();
    }

    private async Task<HttpStatusCode> StatusAsync(string pool, string volume) =>
        (await D.Api.GetAsync($"/1.0/storage-pools/{pool}/volumes/custom/{volume}")).Status;

    [Fact]
    public async Task Copy_and_move_within_and_across_pools_keep_data_config_and_snapshots()
    {
        try
        {
            await LxcOkAsync("storage", "create", "vc-btrfs", "btrfs", "size=1GiB");
            await LxcOkAsync("storage", "volume", "create", "default", "vc1", "user.tag=kept");
            File.WriteAllText(Path.Combine(VolumePath("default", "vc1"), "data"), "v1");
            await LxcOkAsync("storage", "volume", "snapshot", "default", "vc1", "s0");
            File.WriteAllText(Path.Combine(VolumePath("default", "vc1"), "data"), "v2");

            await LxcOkAsync("storage", "volume", "copy", "default/vc1", "default/vc2");
            Assert.Equal("v2", Read("default", "vc2"));
            Assert.Equal(new[] { "s0" }, await SnapshotsAsync("default", "vc2"));
            Assert.Equal("kept", (await LxcOkAsync("storage", "volume", "get", "default", "vc2", "user.tag")).Trim());
            await LxcOkAsync("storage", "volume", "restore", "default", "vc2", "s0");
            Assert.Equal("v1", Read("default", "vc2"));
            Assert.Equal("v2", Read("default", "vc1"));

            // A snapshot's copy is a plain volume; --volume-only leaves the snapshots behind.
            await LxcOkAsync("storage", "volume", "copy", "default/vc1/s0", "default/vc3");
            Assert.Equal("v1", Read("default", "vc3"));
            Assert.Empty(await SnapshotsAsync("default", "vc3"));
            await LxcOkAsync("storage", "volume", "copy", "default/vc1", "default/vc4", "--volume-only");
            Assert.Empty(await SnapshotsAsync("default", "vc4"));

            // Across pools: a full copy onto btrfs, snapshots as read-only subvolumes.
            await LxcOkAsync("storage", "volume", "copy", "default/vc1", "vc-btrfs/vc1");
            Assert.Equal("v2", Read("vc-btrfs", "vc1"));
            Assert.Equal(new[] { "s0" }, await SnapshotsAsync("vc-btrfs", "vc1"));

            // A move to another pool takes the snapshots along and removes the source.
            await LxcOkAsync("storage", "volume", "move", "vc-btrfs/vc1", "default/vc5");
            Assert.Equal(HttpStatusCode.NotFound, await StatusAsync("vc-btrfs", "vc1"));
            Assert.False(Directory.Exists(VolumePath("vc-btrfs", "vc1")));
            Assert.Equal("v2", Read("default", "vc5"));
            Assert.Equal(new[] { "s0" }, await SnapshotsAsync("default", "vc5"));

            // Within a pool a move is a rename.
            await LxcOkAsync("storage", "volume", "move", "default/vc5", "default/vc6");
            Assert.Equal(HttpStatusCode.NotFound, await StatusAsync("default", "vc5"));
            Assert.Equal("v2", Read("default", "vc6"));

            // Refused with the reason, nothing made: a taken name, a missing source or snapshot.
            var taken = await D.LxcAsync("storage", "volume", "copy", "default/vc1", "default/vc2");
            Assert.NotEqual(0, taken.ExitCode);
            Assert.Contains("already exists", taken.Stderr);
            var missing = await D.Api.PostAsync("/1.0/storage-pools/default/volumes/custom", """{"name":"vc9","source":{"type":"copy","name":"vc1/nosnap"}}""");
            Assert.Equal(HttpStatusCode.NotFound, missing.Status);
            var badPool = await D.Api.PostAsync("/1.0/storage-pools/default/volumes/custom", """{"name":"vc9","source":{"type":"copy","name":"vc1","pool":"nopool"}}""");
            Assert.Equal(HttpStatusCode.BadRequest, badPool.Status);
            Assert.Contains("nopool", badPool.Error);
            Assert.Equal(HttpStatusCode.NotFound, await StatusAsync("default", "vc9"));
        }
        finally
        {
            foreach (var v in new[] { "vc1", "vc2", "vc3", "vc4", "vc5", "vc6" })
            {
                await D.LxcAsync("storage", "volume", "delete", "default", v);
            }
            await D.LxcAsync("storage", "volume", "delete", "vc-btrfs", "vc1");
            await D.LxcAsync("storage", "delete", "vc-btrfs");
        }
    }
}
