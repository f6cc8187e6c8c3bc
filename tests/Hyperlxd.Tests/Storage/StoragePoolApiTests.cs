using System.Net;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Storage;

[Collection(SharedDaemonCollection.Name)]
public sealed class StoragePoolApiTests(SharedDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;
    private ApiClient Api => fixture.Daemon.Api;

    [Theory]
    [InlineData("dir", "{}")]
    [InlineData("btrfs", """{"size":"1GiB"}""")]
    public async Task Pool_and_custom_volume_lifecycle(string driver, string config)
    {
        var pool = "api-" + driver;
        var r = await Api.PostAsync("/1.0/storage-pools", $$"""{"name":"{{pool}}","driver":"{{driver}}","config":{{config}}}""");
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
        try
        {
            r = await Api.GetAsync($"/1.0/storage-pools/{pool}");
            Assert.Equal(driver, r.Metadata.GetProperty("driver").GetString());
            Assert.Equal("Created", r.Metadata.GetProperty("status").GetString());
            Assert.NotEmpty(r.Metadata.GetProperty("config").GetProperty("source").GetString()!);

            r = await Api.GetAsync($"/1.0/storage-pools/{pool}/resources");
            Assert.True(r.Metadata.GetProperty("space").GetProperty("total").GetUInt64() > 0, r.ToString());

            // Custom volume: create (sync), list, show, update, snapshot, restore, rename, delete.
            r = await Api.PostAsync($"/1.0/storage-pools/{pool}/volumes/custom", """{"name":"v1","config":{"user.note":"x"}}""");
            Assert.True(r.Status == HttpStatusCode.OK && r.Type == "sync", r.ToString());
            var volDir = Path.Combine(D.Dir, "storage-pools", pool, "custom", "v1");
            Assert.True(Directory.Exists(volDir));
            await File.WriteAllTextAsync(Path.Combine(volDir, "f"), "one");

            r = await Api.GetAsync($"/1.0/storage-pools/{pool}/volumes?recursion=1");
            Assert.Contains(r.Metadata.EnumerateArray(), v => v.GetProperty("name").GetString() == "v1" && v.GetProperty("type").GetString() == "custom");
            r = await Api.GetAsync($"/1.0/storage-pools/{pool}/volumes/custom");
            Assert.Equal($"/1.0/storage-pools/{pool}/volumes/custom/v1", r.Metadata[0].GetString());
            r = await Api.GetAsync($"/1.0/storage-pools/{pool}");
            Assert.Contains($"/1.0/storage-pools/{pool}/volumes/custom/v1", r.Metadata.GetProperty("used_by").EnumerateArray().Select(e => e.GetString()));

            r = await Api.PatchAsync($"/1.0/storage-pools/{pool}/volumes/custom/v1", """{"description":"d"}""");
            Assert.Equal(HttpStatusCode.OK, r.Status);
            r = await Api.GetAsync($"/1.0/storage-pools/{pool}/volumes/custom/v1");
            Assert.Equal("d", r.Metadata.GetProperty("description").GetString());
            Assert.Equal("x", r.Metadata.GetProperty("config").GetProperty("user.note").GetString());

            r = await Api.PostAsync($"/1.0/storage-pools/{pool}/volumes/custom/v1/snapshots", """{"name":"s1"}""");
            Assert.Equal("async", r.Type);
            await Api.GetAsync(r.Body.GetProperty("operation").GetString() + "/wait");
            r = await Api.GetAsync($"/1.0/storage-pools/{pool}/volumes/custom/v1/snapshots/s1");
            Assert.Equal("s1", r.Metadata.GetProperty("name").GetString());
            await File.WriteAllTextAsync(Path.Combine(volDir, "f"), "two");
            r = await Api.PutAsync($"/1.0/storage-pools/{pool}/volumes/custom/v1", """{"restore":"s1"}""");
            Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
            Assert.Equal("one", await File.ReadAllTextAsync(Path.Combine(volDir, "f")));

            r = await Api.PostAsync($"/1.0/storage-pools/{pool}/volumes/custom/v1/snapshots/s1", """{"name":"s2"}""");
            await Api.GetAsync(r.Body.GetProperty("operation").GetString() + "/wait");
            r = await Api.GetAsync($"/1.0/storage-pools/{pool}/volumes/custom/v1/snapshots");
            Assert.Equal($"/1.0/storage-pools/{pool}/volumes/custom/v1/snapshots/s2", r.Metadata[0].GetString());

            r = await Api.PostAsync($"/1.0/storage-pools/{pool}/volumes/custom/v1", """{"name":"v2"}""");
            Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
            Assert.True(File.Exists(Path.Combine(D.Dir, "storage-pools", pool, "custom", "v2", "f")));
            Assert.True(Directory.Exists(Path.Combine(D.Dir, "storage-pools", pool, "custom-snapshots", "v2", "s2")));

            r = await Api.DeleteAsync($"/1.0/storage-pools/{pool}/volumes/custom/v2");
            Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
            await StorageLeftovers.AssertVolumeGoneAsync(D, pool, "v2");
            Assert.Equal("0", await D.QueryScalarAsync("SELECT count(*) FROM storage_volume_snapshots"));
        }
        finally
        {
            r = await Api.DeleteAsync($"/1.0/storage-pools/{pool}");
            Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
        }
        await StorageLeftovers.AssertPoolGoneAsync(D, pool);
    }

    [Fact]
    public async Task Btrfs_volume_size_sets_a_live_qgroup_limit()
    {
        const string pool = "api-quota";
        Assert.Equal(HttpStatusCode.OK, (await Api.PostAsync("/1.0/storage-pools", $$$"""{"name":"{{{pool}}}","driver":"btrfs","config":{"size":"1GiB"}}""")).Status);
        try
        {
            var r = await Api.PostAsync($"/1.0/storage-pools/{pool}/volumes/custom", """{"name":"q","config":{"size":"64MiB"}}""");
            Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
            var path = Path.Combine(D.Dir, "storage-pools", pool, "custom", "q");
            var show = await ProcessRunner.RunAsync("btrfs", new[] { "qgroup", "show", "-re", "--raw", path });
            Assert.Contains((64L << 20).ToString(), show.Stdout);
            r = await Api.PatchAsync($"/1.0/storage-pools/{pool}/volumes/custom/q", """{"config":{"size":"128MiB"}}""");
            Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
            show = await ProcessRunner.RunAsync("btrfs", new[] { "qgroup", "show", "-re", "--raw", path });
            Assert.Contains((128L << 20).ToString(), show.Stdout);
            r = await Api.PatchAsync($"/1.0/storage-pools/{pool}/volumes/custom/q", """{"config":{"size":"lots"}}""");
            Assert.Equal(HttpStatusCode.BadRequest, r.Status);
            Assert.Contains("size", r.Error);
            r = await Api.GetAsync($"/1.0/storage-pools/{pool}/volumes/custom/q");
            Assert.Equal("128MiB", r.Metadata.GetProperty("config").GetProperty("size").GetString());
            Assert.Equal(HttpStatusCode.OK, (await Api.DeleteAsync($"/1.0/storage-pools/{pool}/volumes/custom/q")).Status);
        }
        finally
        {
            await Api.DeleteAsync($"/1.0/storage-pools/{pool}");
        }
        await StorageLeftovers.AssertPoolGoneAsync(D, pool);
    }

    [Fact]
    public async Task Server_lists_only_working_drivers()
    {
        var r = await Api.GetAsync("/1.0");
        var drivers = r.Metadata.GetProperty("environment").GetProperty("storage_supported_drivers").EnumerateArray().Select(d => d.GetProperty("Name").GetString()).ToList();
        Assert.Contains("dir", drivers);
        Assert.Contains("btrfs", drivers);
        Assert.DoesNotContain("lvm", drivers);
        Assert.DoesNotContain("zfs", drivers);
        Assert.Contains("storage", r.Metadata.GetProperty("api_extensions").EnumerateArray().Select(e => e.GetString()));
    }
}
