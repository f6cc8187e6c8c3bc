using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Networks;
using Hyperlxd.Interop.Linux;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Vms;

namespace Hyperlxd.Tests.Vms;

/// <summary>
/// The domain XML builder against golden files (tests/Hyperlxd.Tests/Vms/golden; HYPERLXD_UPDATE_GOLDEN=1
/// rewrites them), each also accepted by libvirt's own schema (<c>virt-xml-validate FILE domain</c>).
/// </summary>
public sealed class DomainXmlTests
{
    private static readonly VmResources Defaults = new(1, null, 1L << 30, true);

    private static NicPlan Nic(string device, string tap, string mac) =>
        new(device, tap, "eth0", mac, 1500, new Dictionary<string, string>()) { Bridge = "hlxbr0" };

    private static readonly string[] Names = ["kernel-boot", "uefi", "uefi-secureboot", "kvm-pinned-nics"];

    public static TheoryData<string> Cases => new(Names);

    private static DomainSpec Spec(string name) => name switch
    {
        "kernel-boot" => new DomainSpec("hlx-vm1", null, false, Defaults, "/var/lib/hyperlxd/storage-pools/default/virtual-machines/vm1/root.img",
            new KernelBoot("/pool/vm1/boot/vmlinuz", "/pool/vm1/boot/initrd.img", DomainXml.KernelCmdline("panic=-1 quiet\n", "vm1")),
            "/var/lib/hyperlxd/instances/vm1/console.log", [], "hyperlxd instance vm1"),
        "uefi" => new DomainSpec("hlx-vm2", "0c6c3bd8-7f0e-4b43-a8a3-3c5f5b0f2d11", false, Defaults with { SecureBoot = false }, "/pool/vm2/root.img",
            new UefiBoot("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd", "/state/vm2/qemu.nvram", false),
            "/state/vm2/console.log", []),
        "uefi-secureboot" => new DomainSpec("hlx-vm3", null, false, Defaults with { MemoryBytes = 2L << 30 }, "/pool/vm3/root.img",
            new UefiBoot("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", "/usr/share/OVMF/OVMF_VARS_4M.ms.fd", "/state/vm3/qemu.nvram", true),
            "/state/vm3/console.log", []),
        _ => new DomainSpec("hlx-vm4", null, true, new VmResources(2, "0-1", 512L << 20, false), "/pool/vm4/root.img",
            new KernelBoot("/pool/vm4/boot/vmlinuz", null, DomainXml.KernelCmdline(null, "vm4")),
            "/state/vm4/console.log", [Nic("eth0", "tapab12cd34", "00:16:3e:11:22:33"), Nic("eth1", "tapab12cd35", "00:16:3e:11:22:34") with { Mtu = 0 }]),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Builds_the_golden_domain_and_libvirt_accepts_it(string name)
    {
        var xml = DomainXml.Build(Spec(name));
        var golden = Path.Combine(Repo.Root, "tests", "Hyperlxd.Tests", "Vms", "golden", name + ".xml");
        if (Environment.GetEnvironmentVariable("HYPERLXD_UPDATE_GOLDEN") == "1")
        {
            await File.WriteAllTextAsync(golden, xml);
        }
        Assert.Equal(await File.ReadAllTextAsync(golden), xml);
        var r = await HostCommand.RunUncheckedAsync("virt-xml-validate", [golden, "domain"]);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
    }

    [Fact]
    public void The_kernel_command_line_gets_the_serial_console_and_the_hostname_unless_it_names_them()
    {
        Assert.Equal("console=ttyS0 hostname=c1", DomainXml.KernelCmdline(null, "c1"));
        Assert.Equal("quiet console=ttyS0 hostname=c1", DomainXml.KernelCmdline("quiet\n", "c1"));
        Assert.Equal("console=hvc0 quiet hostname=c1", DomainXml.KernelCmdline("console=hvc0 quiet", "c1"));
        Assert.Equal("hostname=fixed console=ttyS0", DomainXml.KernelCmdline("hostname=fixed", "c1"));
        // Only a whole argument counts: a value mentioning console= does not suppress the serial console.
        Assert.Equal("root.console=x console=ttyS0 hostname=c1", DomainXml.KernelCmdline("root.console=x", "c1"));
    }

    [Fact]
    public void Never_renders_user_mode_networking()
    {
        foreach (var name in Names)
        {
            var xml = DomainXml.Build(Spec(name));
            Assert.DoesNotContain("type=\"user\"", xml);
            Assert.Contains("<acpi />", xml);
            Assert.Contains(DomainXml.AgentChannel, xml);
        }
    }
}
