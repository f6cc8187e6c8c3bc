namespace Hyperlxd.Interop.Libvirt;

/// <summary>
/// One reference to a libvirt domain (virDomainPtr, freed with virDomainFree on Dispose). It keeps the
/// connection it came from alive. Every failure throws <see cref="LibvirtException"/>: a domain that
/// vanished meanwhile gives <see cref="LibvirtException.IsNoDomain"/> (42), an action that does not apply
/// in the domain's state (destroy when stopped, resume when running...) <see cref="LibvirtException.IsOperationInvalid"/> (55).
/// </summary>
public sealed unsafe partial class LibvirtDomain : IDisposable
{
    private const int UuidStringLength = 37; // VIR_UUID_STRING_BUFLEN

    private readonly DomainHandle _handle;

    internal LibvirtDomain(DomainHandle handle)
    {
        _handle = handle;
    }

    /// <summary>virDomainGetName (libvirt's string is borrowed; this is a copy).</summary>
    public string Name => LibvirtError.Borrowed(Native.virDomainGetName(_handle), "virDomainGetName");

    /// <summary>virDomainGetUUIDString.</summary>
    public Guid Uuid
    {
        get
        {
            var buf = stackalloc byte[UuidStringLength];
            LibvirtError.Check(Native.virDomainGetUUIDString(_handle, buf), "virDomainGetUUIDString");
            return Guid.Parse(new ReadOnlySpan<byte>(buf, UuidStringLength - 1));
        }
    }

    /// <summary>virDomainGetID: the hypervisor's id of a running domain; -1 when it is not running.</summary>
    public int Id => (int)Native.virDomainGetID(_handle);

    /// <summary>virDomainCreateWithFlags: starts a defined domain (e.g. <see cref="DomainCreateFlags.Paused"/>); 55 when it already runs.</summary>
    public void Create(DomainCreateFlags flags = DomainCreateFlags.None) =>
        LibvirtError.Check(Native.virDomainCreateWithFlags(_handle, (uint)flags), "virDomainCreateWithFlags");

    /// <summary>virDomainDestroy: kills it at once (a transient domain is then gone); 55 when not running.</summary>
    public void Destroy() => LibvirtError.Check(Native.virDomainDestroy(_handle), "virDomainDestroy");

    /// <summary>virDomainShutdown: asks the guest to power off (ACPI) and returns; watch the state or the Stopped event for the end.</summary>
    public void Shutdown() => LibvirtError.Check(Native.virDomainShutdown(_handle), "virDomainShutdown");

    /// <summary>virDomainReboot with the hypervisor's default method.</summary>
    public void Reboot() => LibvirtError.Check(Native.virDomainReboot(_handle, 0), "virDomainReboot");

    /// <summary>virDomainSuspend: pauses the vCPUs.</summary>
    public void Suspend() => LibvirtError.Check(Native.virDomainSuspend(_handle), "virDomainSuspend");

    /// <summary>virDomainResume: resumes a paused domain (also one started <see cref="DomainCreateFlags.Paused"/>).</summary>
    public void Resume() => LibvirtError.Check(Native.virDomainResume(_handle), "virDomainResume");

    /// <summary>virDomainUndefineFlags: removes the persistent definition (a running domain becomes transient). UEFI domains with NVRAM need <see cref="DomainUndefineFlags.Nvram"/> or KeepNvram.</summary>
    public void Undefine(DomainUndefineFlags flags = DomainUndefineFlags.None) =>
        LibvirtError.Check(Native.virDomainUndefineFlags(_handle, (uint)flags), "virDomainUndefineFlags");

    /// <summary>virDomainRename: only for a defined domain that is not running (55 otherwise). This object keeps the uuid; its <see cref="Name"/> may still say the old name (drivers differ): look the domain up again by the new name.</summary>
    public void Rename(string newName) =>
        LibvirtError.Check(Native.virDomainRename(_handle, newName, 0), "virDomainRename");

    /// <summary>virDomainGetInfo.</summary>
    public DomainInfo GetInfo()
    {
        Native.DomainInfoNative info;
        LibvirtError.Check(Native.virDomainGetInfo(_handle, &info), "virDomainGetInfo");
        return new DomainInfo((DomainState)info.State, info.MaxMem, info.Memory, info.NrVirtCpu, info.CpuTime);
    }

    /// <summary>virDomainGetState: the state and its reason (the matching virDomain*Reason enum's value).</summary>
    public (DomainState State, int Reason) GetState()
    {
        int state, reason;
        LibvirtError.Check(Native.virDomainGetState(_handle, &state, &reason, 0), "virDomainGetState");
        return ((DomainState)state, reason);
    }

    /// <summary>virDomainGetXMLDesc (the live definition, or the persistent one with <see cref="DomainXmlFlags.Inactive"/>).</summary>
    public string GetXmlDesc(DomainXmlFlags flags = DomainXmlFlags.None) =>
        LibvirtError.TakeString(Native.virDomainGetXMLDesc(_handle, (uint)flags), "virDomainGetXMLDesc");

    /// <summary>virDomainSetVcpusFlags (Live needs a running domain and hot-pluggable vCPUs under the maximum; <see cref="DomainModificationImpact.Maximum"/> with Config sets the maximum).</summary>
    public void SetVcpus(uint count, DomainModificationImpact impact) =>
        LibvirtError.Check(Native.virDomainSetVcpusFlags(_handle, count, (uint)impact), "virDomainSetVcpusFlags");

    /// <summary>virDomainSetMemoryFlags, KiB (Live: the balloon target; <see cref="DomainModificationImpact.Maximum"/> with Config sets the maximum).</summary>
    public void SetMemory(ulong kib, DomainModificationImpact impact) =>
        LibvirtError.Check(Native.virDomainSetMemoryFlags(_handle, (nuint)kib, (uint)impact), "virDomainSetMemoryFlags");

    /// <summary>virDomainAttachDeviceFlags: a device's XML (e.g. an &lt;interface&gt;), Live|Config to hot-plug and keep it.</summary>
    public void AttachDevice(string xml, DomainModificationImpact impact) =>
        LibvirtError.Check(Native.virDomainAttachDeviceFlags(_handle, xml, (uint)impact), "virDomainAttachDeviceFlags");

    /// <summary>virDomainDetachDeviceFlags: the device's XML as attached (Live detach is asynchronous with the guest's cooperation).</summary>
    public void DetachDevice(string xml, DomainModificationImpact impact) =>
        LibvirtError.Check(Native.virDomainDetachDeviceFlags(_handle, xml, (uint)impact), "virDomainDetachDeviceFlags");

    /// <summary>virDomainInterfaceStats of a running domain's interface (its target dev name, or its MAC).</summary>
    public InterfaceStats InterfaceStats(string device)
    {
        Native.InterfaceStatsNative s;
        LibvirtError.Check(Native.virDomainInterfaceStats(_handle, device, &s, (nuint)sizeof(Native.InterfaceStatsNative)), "virDomainInterfaceStats");
        return new InterfaceStats(s.RxBytes, s.RxPackets, s.TxBytes, s.TxPackets, s.RxErrs, s.RxDrop, s.TxErrs, s.TxDrop);
    }

    /// <summary>virDomainMemoryStats of a running domain (values converted from KiB to bytes).</summary>
    public DomainMemoryStats MemoryStats()
    {
        var stats = stackalloc Native.MemoryStatNative[Native.VIR_DOMAIN_MEMORY_STAT_NR];
        var n = LibvirtError.Check(Native.virDomainMemoryStats(_handle, stats, Native.VIR_DOMAIN_MEMORY_STAT_NR, 0), "virDomainMemoryStats");
        var values = new Dictionary<int, long>();
        for (var i = 0; i < n; i++)
        {
            values[stats[i].Tag] = (long)stats[i].Val * 1024;
        }
        long? Get(int tag) => values.TryGetValue(tag, out var v) ? v : null;
        return new DomainMemoryStats(Get(Native.VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON), Get(Native.VIR_DOMAIN_MEMORY_STAT_RSS),
            Get(Native.VIR_DOMAIN_MEMORY_STAT_AVAILABLE), Get(Native.VIR_DOMAIN_MEMORY_STAT_UNUSED), Get(Native.VIR_DOMAIN_MEMORY_STAT_USABLE),
            Get(Native.VIR_DOMAIN_MEMORY_STAT_DISK_CACHES));
    }

    /// <summary>virDomainBlockStats of a running domain's disk (target dev such as "vda", or the source path).</summary>
    public BlockStats BlockStats(string disk)
    {
        Native.BlockStatsNative s;
        LibvirtError.Check(Native.virDomainBlockStats(_handle, disk, &s, (nuint)sizeof(Native.BlockStatsNative)), "virDomainBlockStats");
        return new BlockStats(s.RdReq, s.RdBytes, s.WrReq, s.WrBytes, s.Errs);
    }

    /// <summary>
    /// virDomainQemuAgentCommand (libvirt-qemu.so.0): sends one guest-agent JSON command and returns the
    /// agent's JSON reply (malloc'd by libvirt, freed here). <paramref name="timeoutSeconds"/>: seconds, or
    /// -2 block, -1 libvirt's default, 0 do not wait. An agent that is not connected or does not answer in
    /// time gives <see cref="LibvirtException.IsAgentUnavailable"/>. Blocks the calling thread: call it off
    /// the event-loop thread (never from a lifecycle handler).
    /// </summary>
    public string QemuAgentCommand(string json, int timeoutSeconds) =>
        LibvirtError.TakeString(Native.virDomainQemuAgentCommand(_handle, json, timeoutSeconds, 0), "virDomainQemuAgentCommand");

    /// <summary>
    /// virDomainOpenConsole: attaches <paramref name="stream"/> (from <see cref="LibvirtConnection.NewStream"/>,
    /// still owned by the caller) to the domain's console <paramref name="device"/> (an alias such as
    /// "serial0", or null for the first console). Start the domain paused, open, then resume to lose no output.
    /// </summary>
    public void OpenConsole(string? device, LibvirtStream stream, DomainConsoleFlags flags = DomainConsoleFlags.None) =>
        LibvirtError.Check(Native.virDomainOpenConsole(_handle, device, stream.Handle, (uint)flags), "virDomainOpenConsole");

    public void Dispose() => _handle.Dispose();
}
