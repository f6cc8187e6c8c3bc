using Hyperlxd.Core;
using Hyperlxd.Vms;

namespace Hyperlxd.Tests.Vms;

public sealed class VmConfigTests
{
    private static readonly IReadOnlySet<int> Online = new HashSet<int> { 0, 1, 2, 3 };

    private static VmResources From(params (string Key, string Value)[] keys) =>
        VmResources.From(keys.ToDictionary(k => k.Key, k => k.Value), () => 8L << 30, () => Online);

    [Fact]
    public void Defaults_are_lxds_one_vcpu_one_gib_and_secure_boot()
    {
        var r = From();
        Assert.Equal(1, r.Vcpus);
        Assert.Null(r.CpuSet);
        Assert.Equal(1L << 30, r.MemoryBytes);
        Assert.Equal(1024 * 1024, r.MemoryKiB);
        Assert.True(r.SecureBoot);
    }

    [Theory]
    [InlineData("2", 2, null)]
    [InlineData("8", 8, null)] // more vCPUs than host CPUs is allowed (overcommit)
    [InlineData("1-2", 2, "1-2")]
    [InlineData("0,2-3", 3, "0,2-3")]
    public void Limits_cpu_is_a_vcpu_count_or_a_pinned_set(string value, int vcpus, string? set)
    {
        var r = From(("limits.cpu", value));
        Assert.Equal(vcpus, r.Vcpus);
        Assert.Equal(set, r.CpuSet);
    }

    [Theory]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("2GB", 2_000_000_000L)]
    [InlineData("25%", 8589934592L / 100 * 25)]
    public void Limits_memory_takes_lxd_sizes_and_a_share_of_the_host(string value, long bytes) =>
        Assert.Equal(bytes, From(("limits.memory", value)).MemoryBytes);

    [Theory]
    [InlineData("limits.cpu", "0")]
    [InlineData("limits.cpu", "6-7")] // not online
    [InlineData("limits.cpu", "256")]
    [InlineData("limits.cpu", "two")]
    [InlineData("limits.memory", "lots")]
    [InlineData("limits.memory", "1MiB")]
    [InlineData("limits.memory", "9GiB")] // beyond the host's 8 GiB
    [InlineData("security.secureboot", "maybe")]
    public void Bad_values_are_refused_naming_the_key(string key, string value)
    {
        var e = Assert.Throws<BadRequestException>(() => From((key, value)));
        Assert.Contains($"\"{key}\"", e.Message);
    }

    [Fact]
    public void Secure_boot_can_be_turned_off() => Assert.False(From(("security.secureboot", "false")).SecureBoot);

    [Theory]
    [InlineData("", AcceleratorMode.Auto)]
    [InlineData("auto", AcceleratorMode.Auto)]
    [InlineData("kvm", AcceleratorMode.Kvm)]
    [InlineData("tcg", AcceleratorMode.Tcg)]
    public void The_accelerator_key_is_auto_kvm_or_tcg(string value, AcceleratorMode mode) => Assert.Equal(mode, Accelerator.Parse(value));

    [Fact]
    public void An_unknown_accelerator_is_refused_naming_the_key() =>
        Assert.Contains("vms.accelerator", Assert.Throws<BadRequestException>(() => Accelerator.Parse("xen")).Message);
}
