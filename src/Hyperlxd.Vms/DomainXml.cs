using System.Globalization;
using System.Xml.Linq;
using Hyperlxd.Core.Networks;

namespace Hyperlxd.Vms;

/// <summary>How a VM boots: the image's own kernel, or UEFI firmware with a private variable store.</summary>
internal abstract record VmBoot;

/// <summary>Direct kernel boot (<c>{root}/boot/vmlinuz</c>, <c>initrd.img</c>, <c>cmdline</c>): small appliances and tests.</summary>
internal sealed record KernelBoot(string Kernel, string? Initrd, string Cmdline) : VmBoot;

/// <summary>OVMF: read-only code, and this VM's own copy of the variables (made from <paramref name="VarsTemplate"/>).</summary>
internal sealed record UefiBoot(string Code, string VarsTemplate, string Nvram, bool SecureBoot) : VmBoot;

/// <summary>Everything a domain definition depends on: the builder is pure, so golden files pin its output.</summary>
internal sealed record DomainSpec(
    string Name,
    string? Uuid,
    bool Kvm,
    VmResources Resources,
    string Disk,
    VmBoot Boot,
    string ConsoleLog,
    IReadOnlyList<NicPlan> Nics,
    string Description = "",
    string Emulator = "/usr/bin/qemu-system-x86_64");

/// <summary>
/// The libvirt domain XML of a VM. Choices that matter here: machine <c>pc</c> (fastest to boot under
/// TCG; q35 only where secure boot needs SMM), <c>acpi</c> (or the guest cannot power itself off), a
/// serial console whose output QEMU also logs to a file (<c>lxc console --show-log</c>), the guest
/// agent on virtio-serial (there is no vsock here), no graphics, no USB, and never user-mode networking:
/// nics are taps on the instance's bridge.
/// </summary>
internal static class DomainXml
{
    /// <summary>The channel name qemu-ga looks for (<c>/dev/virtio-ports/org.qemu.guest_agent.0</c>).</summary>
    public const string AgentChannel = "org.qemu.guest_agent.0";

    public static string Build(DomainSpec spec)
    {
        var r = spec.Resources;
        var secure = spec.Boot is UefiBoot { SecureBoot: true };
        var vcpu = new XElement("vcpu", new XAttribute("placement", "static"), r.Vcpus.ToString(CultureInfo.InvariantCulture));
        if (r.CpuSet is { } set)
        {
            vcpu.Add(new XAttribute("cpuset", set));
        }
        var domain = new XElement("domain", new XAttribute("type", spec.Kvm ? "kvm" : "qemu"),
            new XElement("name", spec.Name),
            spec.Uuid is { } uuid ? new XElement("uuid", uuid) : null,
            spec.Description.Length > 0 ? new XElement("description", spec.Description) : null,
            new XElement("memory", new XAttribute("unit", "KiB"), r.MemoryKiB.ToString(CultureInfo.InvariantCulture)),
            new XElement("currentMemory", new XAttribute("unit", "KiB"), r.MemoryKiB.ToString(CultureInfo.InvariantCulture)),
            vcpu,
            Os(spec.Boot),
            new XElement("features", new XElement("acpi"), secure ? new XElement("smm", new XAttribute("state", "on")) : null),
            spec.Kvm ? new XElement("cpu", new XAttribute("mode", "host-passthrough")) : null,
            new XElement("clock", new XAttribute("offset", "utc")),
            new XElement("on_poweroff", "destroy"),
            new XElement("on_reboot", "restart"),
            new XElement("on_crash", "destroy"),
            Devices(spec));
        return domain.ToString(SaveOptions.None) + "\n";
    }

    private static XElement Os(VmBoot boot)
    {
        var secure = boot is UefiBoot { SecureBoot: true };
        var os = new XElement("os",
            new XElement("type", new XAttribute("arch", "x86_64"), new XAttribute("machine", secure ? "q35" : "pc"), "hvm"));
        switch (boot)
        {
            case KernelBoot k:
                os.Add(new XElement("kernel", k.Kernel));
                if (k.Initrd is { } initrd)
                {
                    os.Add(new XElement("initrd", initrd));
                }
                os.Add(new XElement("cmdline", k.Cmdline));
                break;
            case UefiBoot u:
                os.Add(new XElement("loader", new XAttribute("readonly", "yes"), new XAttribute("secure", u.SecureBoot ? "yes" : "no"),
                    new XAttribute("type", "pflash"), u.Code));
                os.Add(new XElement("nvram", new XAttribute("template", u.VarsTemplate), u.Nvram));
                os.Add(new XElement("boot", new XAttribute("dev", "hd")));
                break;
        }
        return os;
    }

    private static XElement Devices(DomainSpec spec)
    {
        var devices = new XElement("devices",
            new XElement("emulator", spec.Emulator),
            new XElement("disk", new XAttribute("type", "file"), new XAttribute("device", "disk"),
                new XElement("driver", new XAttribute("name", "qemu"), new XAttribute("type", "qcow2"), new XAttribute("discard", "unmap")),
                new XElement("source", new XAttribute("file", spec.Disk)),
                new XElement("target", new XAttribute("dev", "vda"), new XAttribute("bus", "virtio"))),
            new XElement("controller", new XAttribute("type", "usb"), new XAttribute("model", "none")));
        foreach (var nic in spec.Nics)
        {
            devices.Add(Interface(nic));
        }
        devices.Add(
            new XElement("serial", new XAttribute("type", "pty"),
                new XElement("log", new XAttribute("file", spec.ConsoleLog), new XAttribute("append", "off")),
                new XElement("target", new XAttribute("port", "0"))),
            new XElement("console", new XAttribute("type", "pty"),
                new XElement("target", new XAttribute("type", "serial"), new XAttribute("port", "0"))),
            new XElement("channel", new XAttribute("type", "unix"),
                new XElement("target", new XAttribute("type", "virtio"), new XAttribute("name", AgentChannel))),
            new XElement("video", new XElement("model", new XAttribute("type", "none"))),
            new XElement("memballoon", new XAttribute("model", "virtio")));
        return devices;
    }

    /// <summary>One nic: a tap named by the network host, on its bridge (hot-plug attaches the same element).</summary>
    public static XElement Interface(NicPlan nic)
    {
        var e = new XElement("interface", new XAttribute("type", "bridge"));
        if (nic.HwAddr.Length > 0)
        {
            e.Add(new XElement("mac", new XAttribute("address", nic.HwAddr)));
        }
        e.Add(new XElement("source", new XAttribute("bridge", nic.Bridge)));
        if (nic.HostName.Length > 0)
        {
            e.Add(new XElement("target", new XAttribute("dev", nic.HostName)));
        }
        e.Add(new XElement("model", new XAttribute("type", "virtio")));
        if (nic.Mtu > 0)
        {
            e.Add(new XElement("mtu", new XAttribute("size", nic.Mtu.ToString(CultureInfo.InvariantCulture))));
        }
        return e;
    }

    /// <summary>
    /// The kernel command line: the image's own arguments, with the serial console added unless it names one,
    /// and <c>hostname=</c> the instance's name (read by images that boot a kernel directly, as the VM test
    /// image's init does; LXD's agent sets it in UEFI images) unless the image sets one.
    /// </summary>
    public static string KernelCmdline(string? image, string hostname)
    {
        var args = (image ?? "").ReplaceLineEndings(" ").Trim();
        var words = args.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (!words.Any(w => w.StartsWith("console=", StringComparison.Ordinal)))
        {
            args += " console=ttyS0";
        }
        if (!words.Any(w => w.StartsWith("hostname=", StringComparison.Ordinal)))
        {
            args += " hostname=" + hostname;
        }
        return args.Trim();
    }
}
