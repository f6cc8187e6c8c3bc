using System.Net;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Storage;

/// <summary>Every refused request names what is wrong and leaves no row, directory, mount or loop device.</summary>
[Collection(SharedDaemonCollection.Name)]
public sealed class StorageBadInputTests(SharedDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;
    private ApiClient Api => fixture.Daemon.Api;

    [Theory]
    [InlineData("bad-unknown", "nosuch", "{}", HttpStatusCode.BadRequest, "nosuch")]
    [InlineData("bad-lvm", "lvm", "{}", HttpStatusCode.BadRequest, "not available on this host")]
    [InlineData("bad-zfs", "zfs", "{}", HttpStatusCode.BadRequest, "zfs")]
    [InlineData("bad-size", "btrfs", """{"size":"huge"}""", HttpStatusCode.BadRequest, "size")]
    [InlineData("bad-small", "btrfs", """{"size":"1MiB"}""", HttpStatusCode.BadRequest, "256MiB")]
    [InlineData("bad-key", "dir", """{"nonsense":"1"}""", HttpStatusCode.BadRequest, "nonsense")]
    [InlineData("bad-key2", "btrfs", """{"size":"1GiB","zfs.pool_name":"x"}""", HttpStatusCode.BadRequest, "zfs.pool_name")]
    [InlineData("bad-source", "btrfs", """{"source":"/nonexistent/hyperlxd-test"}""", HttpStatusCode.BadRequest, "doesn't exist")]
    [InlineData("bad-relsource", "dir", """{"source":"relative/path"}""", HttpStatusCode.BadRequest, "source")]
    public async Task Bad_pool_create_is_refused_and_leaves_nothing(string name, string driver, string config, HttpStatusCode code, string mention)
    {
        var r = await Api.PostAsync("/1.0/storage-pools", $$"""{"name":"{{name}}","driver":"{{driver}}","config":{{config}}}""");
        Assert.True(r.Status == code, r.ToString());
        Assert.Contains(mention, r.Error);
        await StorageLeftovers.AssertPoolGoneAsync(D, name);
    }

    [Fact]
    public async Task Btrfs_source_that_is_not_btrfs_is_refused_and_leaves_nothing()
    {
        var dir = Repo.TempDir("hlx-notbtrfs");
        try
        {
            var r = await Api.PostAsync("/1.0/storage-pools", $$$"""{"name":"bad-notbtrfs","driver":"btrfs","config":{"source":"{{{dir}}}"}}""");
            Assert.True(r.Status == HttpStatusCode.BadRequest, r.ToString());
            Assert.Contains("btrfs", r.Error);
            await StorageLeftovers.AssertPoolGoneAsync(D, "bad-notbtrfs");
            Assert.True(Directory.Exists(dir));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("with space")]
    [InlineData("..")]
    public async Task Invalid_pool_names_are_refused(string name)
    {
        var r = await Api.PostAsync("/1.0/storage-pools", $$"""{"name":"{{name}}","driver":"dir"}""");
        Assert.True(r.Status == HttpStatusCode.BadRequest, r.ToString());
        Assert.Equal("0", await D.QueryScalarAsync("SELECT count(*) FROM storage_pools WHERE name LIKE 'bad%' OR name = '' OR name LIKE '%/%' OR name LIKE '% %' OR name = '..'"));
    }

    [Fact]
    public async Task Duplicates_unknown_fields_volume_errors_and_in_use_deletes()
    {
        const string pool = "bad-dup";
        Assert.Equal(HttpStatusCode.OK, (await Api.PostAsync("/1.0/storage-pools", $$"""{"name":"{{pool}}","driver":"dir"}""")).Status);
        try
        {
            var r = await Api.PostAsync("/1.0/storage-pools", $$"""{"name":"{{pool}}","driver":"dir"}""");
            Assert.Equal(HttpStatusCode.Conflict, r.Status);
            Assert.Equal("1", await D.QueryScalarAsync($"SELECT count(*) FROM storage_pools WHERE name = '{pool}'"));

            // Unknown fields are ignored as LXD does (issue 9 #17); a known field of the wrong type is not.
            r = await Api.PostAsync("/1.0/storage-pools", """{"name":"bad-field","driver":"dir","bogus":1,"config":"source=/"}""");
            Assert.Equal(HttpStatusCode.BadRequest, r.Status);
            Assert.Contains("config", r.Error);
            await StorageLeftovers.AssertPoolGoneAsync(D, "bad-field");

            // Changing the source of a created pool is refused, and the pool stays as it was.
            r = await Api.PatchAsync($"/1.0/storage-pools/{pool}", """{"config":{"source":"/elsewhere"}}""");
            Assert.Equal(HttpStatusCode.BadRequest, r.Status);
            Assert.Contains("source", r.Error);

            // Volumes: dir has no quotas, unknown keys, bad names, duplicates.
            r = await Api.PostAsync($"/1.0/storage-pools/{pool}/volumes/custom", """{"name":"q","config":{"size":"1GiB"}}""");
            Assert.Equal(HttpStatusCode.BadRequest, r.Status);
            Assert.Contains("quotas are not supported by the dir driver", r.Error);
            await StorageLeftovers.AssertVolumeGoneAsync(D, pool, "q");
            r = await Api.PostAsync($"/1.0/storage-pools/{pool}/volumes/custom", """{"name":"k","config":{"block.filesystem":"ext4"}}""");
            Assert.Equal(HttpStatusCode.BadRequest, r.Status);
            Assert.Contains("block.filesystem", r.Error);
            await StorageLeftovers.AssertVolumeGoneAsync(D, pool, "k");
            r = await Api.PostAsync($"/1.0/storage-pools/{pool}/volumes/custom", """{"name":"a/b"}""");
            Assert.Equal(HttpStatusCode.BadRequest, r.Status);
            r = await Api.PostAsync($"/1.0/storage-pools/{pool}/volumes/custom", """{"name":"v"}""");
            Assert.Equal(HttpStatusCode.OK, r.Status);
            r = await Api.PostAsync($"/1.0/storage-pools/{pool}/volumes/custom", """{"name":"v"}""");
            Assert.Equal(HttpStatusCode.Conflict, r.Status);
            Assert.Equal("1", await D.QueryScalarAsync($"SELECT count(*) FROM storage_volumes WHERE pool = '{pool}'"));
            r = await Api.PostAsync($"/1.0/storage-pools/{pool}/volumes/custom/v/snapshots", """{"name":"x/y"}""");
            Assert.Equal(HttpStatusCode.BadRequest, r.Status);
            Assert.Equal("0", await D.QueryScalarAsync("SELECT count(*) FROM storage_volume_snapshots"));
            Assert.Equal(HttpStatusCode.NotFound, (await Api.GetAsync($"/1.0/storage-pools/{pool}/volumes/custom/nope")).Status);
            Assert.Equal(HttpStatusCode.NotFound, (await Api.GetAsync("/1.0/storage-pools/nope")).Status);

            // In use: a profile's disk device on the volume, and on the pool.
            r = await Api.PostAsync("/1.0/profiles", $$$"""{"name":"bad-user","devices":{"data":{"type":"disk","path":"/data","pool":"{{{pool}}}","source":"v"} } }""");
            Assert.Equal(HttpStatusCode.OK, r.Status);
            r = await Api.DeleteAsync($"/1.0/storage-pools/{pool}/volumes/custom/v");
            Assert.Equal(HttpStatusCode.BadRequest, r.Status); // LXD 5.0.2's status for a volume in use
            Assert.Contains("The storage volume is still in use", r.Error);
            Assert.Contains("/1.0/profiles/bad-user", r.Error);
            Assert.True(Directory.Exists(Path.Combine(D.Dir, "storage-pools", pool, "custom", "v")));
            r = await Api.DeleteAsync($"/1.0/storage-pools/{pool}");
            Assert.Equal(HttpStatusCode.Conflict, r.Status);
            Assert.Contains("/1.0/profiles/bad-user", r.Error);
            Assert.Contains($"/1.0/storage-pools/{pool}/volumes/custom/v", r.Error);
            Assert.Equal("1", await D.QueryScalarAsync($"SELECT count(*) FROM storage_pools WHERE name = '{pool}'"));
            Assert.Equal(HttpStatusCode.OK, (await Api.DeleteAsync("/1.0/profiles/bad-user")).Status);
            Assert.Equal(HttpStatusCode.OK, (await Api.DeleteAsync($"/1.0/storage-pools/{pool}/volumes/custom/v")).Status);
        }
        finally
        {
            await Api.DeleteAsync("/1.0/profiles/bad-user");
            await Api.DeleteAsync($"/1.0/storage-pools/{pool}");
        }
        await StorageLeftovers.AssertPoolGoneAsync(D, pool);
    }
}
