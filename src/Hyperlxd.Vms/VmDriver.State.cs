using System.Globalization;
using System.Xml.Linq;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Networks;
using Hyperlxd.Interop.Libvirt;

namespace Hyperlxd.Vms;

public sealed partial class VmDriver
{
    /// <summary>How long a state query waits for the guest agent's addresses (a VM without an agent still answers quickly).</summary>
    private const int StateAgentTimeoutSeconds = 1;

    public async Task<RuntimeState> GetStateAsync(InstanceSpec spec, CancellationToken ct)
    {
        using var domain = Lookup(spec);
        if (domain is null)
        {
            return RuntimeState.Stopped();
        }
        var info = domain.GetInfo();
        var status = Status(info.State);
        if (status == InstanceStatus.Stopped)
        {
            return RuntimeState.Stopped();
        }
        var pid = QemuPid(domain.Name);
        var (rss, peak) = Memory(pid);
        var disk = new Dictionary<string, long>();
        if (File.Exists(DiskPath(spec)))
        {
            disk["root"] = new FileInfo(DiskPath(spec)).Length;
        }
        var network = await NetworkAsync(spec, domain, status, ct);
        return new RuntimeState(status, pid, 0, (long)info.CpuTimeNs, rss, peak, network, null) { DiskUsage = disk };
    }

    public Task<InstanceStatus> GetStatusAsync(InstanceSpec spec, CancellationToken ct)
    {
        using var domain = Lookup(spec);
        return Task.FromResult(domain is null ? InstanceStatus.Stopped : Status(domain.GetState().State));
    }

    private static InstanceStatus Status(DomainState state) => state switch
    {
        DomainState.Running or DomainState.Blocked or DomainState.Shutdown => InstanceStatus.Running,
        DomainState.Paused or DomainState.PMSuspended => InstanceStatus.Frozen,
        _ => InstanceStatus.Stopped,
    };

    /// <summary>
    /// The QEMU process: the pid file libvirt writes for each running domain (below the embedded root:
    /// <c>run/libvirt/qemu/{domain}.pid</c>; for a system URI, <c>/run/libvirt/qemu</c>); 0 when unknown.
    /// </summary>
    internal int QemuPid(string domain)
    {
        string[] dirs = Uri.StartsWith("qemu:///embed", StringComparison.Ordinal)
            ? [Path.Combine(EmbeddedRoot, "run", "libvirt", "qemu"), Path.Combine(EmbeddedRoot, "run", "qemu")]
            : ["/run/libvirt/qemu"];
        foreach (var dir in dirs)
        {
            try
            {
                if (int.TryParse(File.ReadAllText(Path.Combine(dir, domain + ".pid")).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                    && Directory.Exists($"/proc/{pid}"))
                {
                    return pid;
                }
            }
            catch (IOException)
            {
            }
        }
        return 0;
    }

    /// <summary>QEMU's resident memory and its peak (/proc/PID/status VmRSS, VmHWM): what the VM costs the host.</summary>
    private static (long Rss, long Peak) Memory(int pid)
    {
        if (pid <= 0)
        {
            return (0, 0);
        }
        long rss = 0, peak = 0;
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    rss = Kib(line);
                }
                else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    peak = Kib(line);
                }
            }
        }
        catch (IOException)
        {
        }
        return (rss, peak);

        static long Kib(string line) =>
            long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture, out var k) ? k * 1024 : 0;
    }

    /// <summary>
    /// The guest's interfaces and addresses from the agent (when it answers), the nics' counters from
    /// their taps on the host, and the taps' names (the live domain XML: mac and target of each interface).
    /// </summary>
    private async Task<IReadOnlyDictionary<string, NetworkState>> NetworkAsync(InstanceSpec spec, LibvirtDomain domain, InstanceStatus status, CancellationToken ct)
    {
        var taps = XDocument.Parse(domain.GetXmlDesc()).Descendants("interface")
            .Select(i => (Mac: i.Element("mac")?.Attribute("address")?.Value ?? "", Tap: i.Element("target")?.Attribute("dev")?.Value ?? "",
                Mtu: int.TryParse(i.Element("mtu")?.Attribute("size")?.Value, CultureInfo.InvariantCulture, out var m) ? m : 1500))
            .Where(t => t.Tap.Length > 0).ToList();
        List<GuestInterface> guest = [];
        if (status == InstanceStatus.Running)
        {
            try
            {
                guest = await Agent(spec, StateAgentTimeoutSeconds).InterfacesAsync(StateAgentTimeoutSeconds, ct);
            }
            catch (GuestAgentException)
            {
                // no agent (yet): the nics are reported from the host side only
            }
        }
        var result = new Dictionary<string, NetworkState>(StringComparer.Ordinal);
        foreach (var g in guest)
        {
            var mac = g.HardwareAddress ?? "";
            var tap = taps.FirstOrDefault(t => string.Equals(t.Mac, mac, StringComparison.OrdinalIgnoreCase));
            var addresses = (g.Addresses ?? []).Select(a => new NetworkAddress(a.Type == "ipv6" ? "inet6" : "inet", a.Address,
                a.Prefix.ToString(CultureInfo.InvariantCulture), Scope(a))).ToList();
            var loopback = g.Name == "lo";
            var (rx, rxp, tx, txp) = tap.Tap is { Length: > 0 } ? Counters(domain, tap.Tap)
                : (g.Statistics?.RxBytes ?? 0, g.Statistics?.RxPackets ?? 0, g.Statistics?.TxBytes ?? 0, g.Statistics?.TxPackets ?? 0);
            result[g.Name] = new NetworkState(loopback ? "loopback" : "broadcast", "up", loopback ? "" : mac, loopback ? 65536 : tap.Tap is null ? 1500 : tap.Mtu,
                addresses, rx, tx, rxp, txp, tap.Tap ?? "");
        }
        foreach (var tap in taps.Where(t => !guest.Any(g => string.Equals(g.HardwareAddress, t.Mac, StringComparison.OrdinalIgnoreCase))))
        {
            // Not (yet) seen by the agent: named as the nic device whose host end it is.
            var device = NicDevice(spec, tap.Tap) ?? tap.Tap;
            var (rx, rxp, tx, txp) = Counters(domain, tap.Tap);
            result[device] = new NetworkState("broadcast", "up", tap.Mac, tap.Mtu, [], rx, tx, rxp, txp, tap.Tap);
        }
        return result;
    }

    private static string Scope(GuestIpAddress a) =>
        a.Address.StartsWith("127.", StringComparison.Ordinal) || a.Address == "::1" ? "local"
        : a.Address.StartsWith("fe80", StringComparison.OrdinalIgnoreCase) ? "link"
        : "global";

    /// <summary>The nic device whose <c>volatile.{dev}.host_name</c> is <paramref name="tap"/>.</summary>
    private static string? NicDevice(InstanceSpec spec, string tap) =>
        spec.Config.Where(kv => kv.Key.StartsWith("volatile.", StringComparison.Ordinal) && kv.Key.EndsWith(".host_name", StringComparison.Ordinal) && kv.Value == tap)
            .Select(kv => kv.Key["volatile.".Length..^".host_name".Length]).FirstOrDefault();

    private static (long Rx, long RxPackets, long Tx, long TxPackets) Counters(LibvirtDomain domain, string tap)
    {
        try
        {
            var s = domain.InterfaceStats(tap);
            return (Math.Max(0, s.RxBytes), Math.Max(0, s.RxPackets), Math.Max(0, s.TxBytes), Math.Max(0, s.TxPackets));
        }
        catch (LibvirtException)
        {
            return (0, 0, 0, 0);
        }
    }

    /// <summary>
    /// Memory shrinks or grows back live through the balloon, up to what the VM started with; vCPUs and
    /// firmware need a restart. Keys that cannot change live are refused, named. Stopped: checked, applied at the next start.
    /// </summary>
    public async Task ApplyConfigAsync(InstanceSpec spec, IReadOnlyDictionary<string, string> changed, CancellationToken ct)
    {
        var resources = VmResources.From(spec.Config);
        using var domain = Lookup(spec);
        if (domain is null || !Active(domain.GetState().State))
        {
            return;
        }
        foreach (var key in changed.Keys)
        {
            if (key is "security.secureboot" or "limits.memory.hugepages" || key.StartsWith("raw.", StringComparison.Ordinal))
            {
                throw new BadRequestException($"Config key \"{key}\" cannot be changed on a running virtual machine");
            }
        }
        var info = domain.GetInfo();
        if (changed.ContainsKey("limits.cpu") && resources.Vcpus != info.VirtCpus)
        {
            try
            {
                await Blocking(() => domain.SetVcpus((uint)resources.Vcpus, DomainModificationImpact.Live));
            }
            catch (LibvirtException e)
            {
                throw new BadRequestException($"Config key \"limits.cpu\" cannot be changed on this running virtual machine: {e.LibvirtMessage}");
            }
        }
        if (changed.ContainsKey("limits.memory"))
        {
            if ((ulong)resources.MemoryKiB > info.MaxMemoryKiB)
            {
                throw new BadRequestException(
                    $"Config key \"limits.memory\" cannot grow beyond {info.MaxMemoryKiB / 1024}MiB on a running virtual machine (its size at start): stop it first");
            }
            try
            {
                await Blocking(() => domain.SetMemory((ulong)resources.MemoryKiB, DomainModificationImpact.Live));
            }
            catch (LibvirtException e)
            {
                throw new BadRequestException($"Config key \"limits.memory\" cannot be changed on this running virtual machine: {e.LibvirtMessage}");
            }
        }
    }

    /// <summary>Hot-plug: libvirt makes the tap the network host named, on its bridge (live and in the definition).</summary>
    public async Task AttachNicAsync(InstanceSpec spec, NicPlan nic, CancellationToken ct)
    {
        using var domain = Lookup(spec) ?? throw new BadRequestException("The instance isn't running");
        var xml = DomainXml.Interface(nic).ToString();
        try
        {
            await Blocking(() => domain.AttachDevice(xml, DomainModificationImpact.Live | DomainModificationImpact.Config));
        }
        catch (LibvirtException e)
        {
            throw new BadRequestException($"Failed adding nic \"{nic.Device}\" to virtual machine \"{spec.DisplayName}\": {e.LibvirtMessage}");
        }
    }

    /// <summary>The interface whose tap is <paramref name="hostName"/> leaves the live guest and the definition; libvirt waits for the guest's ACPI eject.</summary>
    public async Task DetachNicAsync(InstanceSpec spec, string device, string hostName, CancellationToken ct)
    {
        using var domain = Lookup(spec);
        if (domain is null || !Active(domain.GetState().State))
        {
            return;
        }
        var iface = XDocument.Parse(domain.GetXmlDesc()).Descendants("interface")
            .FirstOrDefault(i => i.Element("target")?.Attribute("dev")?.Value == hostName);
        if (iface is null)
        {
            return;
        }
        try
        {
            await Blocking(() => domain.DetachDevice(iface.ToString(), DomainModificationImpact.Live | DomainModificationImpact.Config));
        }
        catch (LibvirtException e)
        {
            throw new BadRequestException($"Failed removing nic \"{device}\" from virtual machine \"{spec.DisplayName}\": {e.LibvirtMessage}");
        }
    }
}
