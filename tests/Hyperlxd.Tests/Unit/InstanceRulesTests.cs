using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Tests.Unit;

/// <summary>The pure instance rules in Core: LXD's booleans, profile expansion, the root disk, PUT/PATCH merges.</summary>
public sealed class InstanceRulesTests
{
    [Theory]
    [InlineData("true")]
    [InlineData("TRUE")]
    [InlineData("1")]
    [InlineData("yes")]
    [InlineData("On")]
    public void True_values_are_lxds(string value)
    {
        Assert.True(LxdBool.IsTrue(value));
        Assert.False(LxdBool.IsFalse(value));
        Assert.True(LxdBool.IsValid(value));
    }

    [Theory]
    [InlineData("false")]
    [InlineData("False")]
    [InlineData("0")]
    [InlineData("no")]
    [InlineData("OFF")]
    public void False_values_are_lxds(string value)
    {
        Assert.False(LxdBool.IsTrue(value));
        Assert.True(LxdBool.IsFalse(value));
        Assert.True(LxdBool.IsValid(value));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void Empty_is_unset_neither_true_nor_false(string? value)
    {
        Assert.False(LxdBool.IsTrue(value));
        Assert.False(LxdBool.IsFalse(value));
        Assert.True(LxdBool.IsValid(value));
        Assert.True(LxdBool.Get(new Dictionary<string, string> { ["k"] = value ?? "" }, "k", unset: true));
    }

    [Theory]
    [InlineData("2")]
    [InlineData("y")]
    [InlineData("enabled")]
    public void Other_values_are_not_booleans(string value)
    {
        Assert.False(LxdBool.IsValid(value));
        Assert.NotNull(Validators.Bool(value));
    }

    private static Dictionary<string, Dictionary<string, string>> Root(string pool, string? size = null)
    {
        var d = new Dictionary<string, string> { ["type"] = "disk", ["path"] = "/", ["pool"] = pool };
        if (size is not null)
        {
            d["size"] = size;
        }
        return new() { ["root"] = d };
    }

    [Fact]
    public void Expansion_applies_profiles_in_order_then_the_instance()
    {
        var profiles = new Dictionary<string, Profile>
        {
            ["default"] = new() { Name = "default", Config = new() { ["limits.cpu"] = "1", ["user.a"] = "x" }, Devices = Root("p1") },
            ["big"] = new() { Name = "big", Config = new() { ["limits.cpu"] = "4" }, Devices = Root("p2", "10GiB") },
        };
        var e = ProfileExpansion.Expand(new[] { "default", "big", "gone" }, profiles,
            new Dictionary<string, string> { ["user.a"] = "y" }, new Dictionary<string, Dictionary<string, string>>());
        Assert.Equal("4", e.Config["limits.cpu"]);
        Assert.Equal("y", e.Config["user.a"]);
        Assert.Equal(("root", "p2"), RootDisk.Find(e.Devices));
        Assert.Equal("10GiB", RootDisk.Size(e.Devices));
        // The expansion copies devices: changing it leaves the profile as it was.
        e.Devices["root"]["size"] = "1GiB";
        Assert.Equal("10GiB", profiles["big"].Devices["root"]["size"]);
    }

    [Fact]
    public void Root_disk_is_required()
    {
        var devices = new Dictionary<string, Dictionary<string, string>> { ["data"] = new() { ["type"] = "disk", ["path"] = "/data", ["pool"] = "p" } };
        Assert.Throws<BadRequestException>(() => RootDisk.Find(devices));
        Assert.Equal("", RootDisk.Size(Root("p")));
    }

    [Fact]
    public void Patch_merges_and_unsets_put_replaces()
    {
        var current = new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" };
        var patched = ConfigPatch.Config(current, new() { ["b"] = "", ["c"] = "3" }, patch: true);
        Assert.Equal(new Dictionary<string, string> { ["a"] = "1", ["c"] = "3" }, patched);
        Assert.Equal("2", current["b"]);
        var put = ConfigPatch.Config(current, new() { ["c"] = "3", ["d"] = "" }, patch: false);
        Assert.Equal(new Dictionary<string, string> { ["c"] = "3" }, put);
        Assert.Empty(ConfigPatch.Config(current, null, patch: false));

        var devices = Root("p1");
        devices["eth"] = new() { ["type"] = "none" };
        var patchedDevices = ConfigPatch.Devices(devices, Root("p2"), patch: true);
        Assert.Equal("p2", patchedDevices["root"]["pool"]);
        Assert.True(patchedDevices.ContainsKey("eth"));
        Assert.Equal("p1", devices["root"]["pool"]);
        Assert.Single(ConfigPatch.Devices(devices, Root("p2"), patch: false));
    }
}
