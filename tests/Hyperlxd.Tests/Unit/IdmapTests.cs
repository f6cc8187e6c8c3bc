using Hyperlxd.Containers;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;

namespace Hyperlxd.Tests.Unit;

/// <summary>The id map arithmetic and <c>raw.idmap</c> syntax, as LXD's shared/idmap has them.</summary>
public sealed class IdmapTests
{
    [Fact]
    public void Raw_idmap_punches_host_ids_into_the_range_as_LXD_does()
    {
        var map = IdMap.Range(1000000, 65536).With(RawIdmap.Parse("both 1000 1000"));
        // LXD's JSON for the same config: the range split around container id 1000, the punched entry in each half.
        Assert.Equal(
            "[{\"Isuid\":true,\"Isgid\":false,\"Hostid\":1000000,\"Nsid\":0,\"Maprange\":1000}," +
            "{\"Isuid\":true,\"Isgid\":true,\"Hostid\":1000,\"Nsid\":1000,\"Maprange\":1}," +
            "{\"Isuid\":true,\"Isgid\":false,\"Hostid\":1001001,\"Nsid\":1001,\"Maprange\":64535}," +
            "{\"Isuid\":false,\"Isgid\":true,\"Hostid\":1000000,\"Nsid\":0,\"Maprange\":1000}," +
            "{\"Isuid\":true,\"Isgid\":true,\"Hostid\":1000,\"Nsid\":1000,\"Maprange\":1}," +
            "{\"Isuid\":false,\"Isgid\":true,\"Hostid\":1001001,\"Nsid\":1001,\"Maprange\":64535}]",
            map.ToLxdJson());
        Assert.Equal(map, IdMap.FromLxdJson(map.ToLxdJson()));
        Assert.Equal(new[] { (0L, 1000000L, 1000L), (1000L, 1000L, 1L), (1001L, 1001001L, 64535L) }, map.Lines(uid: true));
        Assert.Equal((uint?)1000, map.ToHost(1000, uid: true));
        Assert.Equal((uint?)1000005, map.ToHost(5, uid: false));
        Assert.Equal((uint?)1001, map.ToContainer(1001001, uid: true));
        Assert.Null(map.ToHost(70000, uid: true));
        Assert.Equal((1000000u, 1000000u), map.Root);

        var uidOnly = IdMap.Range(1000000, 65536).With(RawIdmap.Parse("uid 50-59 500-509"));
        Assert.Equal((uint?)55, uidOnly.ToHost(505, uid: true));
        Assert.Equal((uint?)1000505, uidOnly.ToHost(505, uid: false));
        Assert.NotEqual(IdMap.Range(1000000, 65536), uidOnly);
        Assert.Null(IdMap.FromLxdJson("[]"));
    }

    [Theory]
    [InlineData("both 1000")]
    [InlineData("all 1000 1000")]
    [InlineData("both 10-20 10-15")]
    [InlineData("both 20-10 20-10")]
    [InlineData("both -1 0")]
    [InlineData("uid 4294967295 0")]
    [InlineData("both 1000 1000\nuid 1000 2000")]
    public void Bad_raw_idmap_is_refused_naming_the_key(string value)
    {
        var e = Assert.Throws<BadRequestException>(() =>
            InstanceConfig.Validate(new Dictionary<string, string> { ["raw.idmap"] = value }, isProfile: false));
        Assert.Contains("raw.idmap", e.Message);
    }

    [Fact]
    public void Raw_host_ids_inside_the_containers_own_range_are_refused()
    {
        var e = Assert.Throws<BadRequestException>(() => IdMap.Range(1000000, 65536).With(RawIdmap.Parse("both 1000005 5")));
        Assert.Contains("raw.idmap", e.Message);
    }

    [Theory]
    [InlineData("security.idmap.base", "-1")]
    [InlineData("security.idmap.base", "x")]
    [InlineData("security.idmap.size", "100")]
    public void Bad_sizes_and_bases_name_the_key(string key, string value)
    {
        var e = Assert.Throws<BadRequestException>(() =>
            InstanceConfig.Validate(new Dictionary<string, string> { [key] = value }, isProfile: false));
        Assert.Contains(key, e.Message);
    }
}
