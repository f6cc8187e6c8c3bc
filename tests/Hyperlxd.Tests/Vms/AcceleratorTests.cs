using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Vms;

namespace Hyperlxd.Tests.Vms;

public sealed class AcceleratorTests
{
    [Fact]
    public void The_probe_boot_sector_carries_the_boot_signature()
    {
        var sector = Accelerator.BootSector();
        Assert.Equal(512, sector.Length);
        Assert.Equal(new byte[] { 0x55, 0xAA }, sector[510..]);
    }

    [Fact]
    public async Task A_forced_accelerator_is_taken_without_probing()
    {
        var dir = Repo.TempDir("hlx-accel-");
        try
        {
            Assert.False((await Accelerator.DecideAsync(AcceleratorMode.Tcg, "/nonexistent/qemu", dir, default)).Kvm);
            Assert.True((await Accelerator.DecideAsync(AcceleratorMode.Kvm, "/nonexistent/qemu", dir, default)).Kvm);
            Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>
    /// The real probe: its verdict must match what QEMU does with KVM on this host — where the probe
    /// guest boots under KVM it says kvm, else tcg — and it is cached for the kernel.
    /// </summary>
    [Fact]
    public async Task The_probe_decides_by_booting_a_guest_and_caches_the_verdict()
    {
        var dir = Repo.TempDir("hlx-accel-");
        try
        {
            var first = await Accelerator.DecideAsync(AcceleratorMode.Auto, "/usr/bin/qemu-system-x86_64", dir, default);
            Assert.NotEmpty(first.Reason);
            var again = await Accelerator.DecideAsync(AcceleratorMode.Auto, "/usr/bin/qemu-system-x86_64", dir, default);
            Assert.Equal(first.Kvm, again.Kvm);
            Assert.Contains("cached", again.Reason);
            if (!File.Exists("/dev/kvm"))
            {
                Assert.False(first.Kvm);
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
