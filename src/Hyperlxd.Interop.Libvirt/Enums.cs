namespace Hyperlxd.Interop.Libvirt;

// Mirrors of libvirt's enums, same values (LibvirtSignatureTests checks them against libvirt-api.xml).

/// <summary>virDomainState: what <see cref="LibvirtDomain.GetState"/> and <see cref="LibvirtDomain.GetInfo"/> report.</summary>
public enum DomainState
{
    NoState = 0,
    Running = 1,
    Blocked = 2,
    Paused = 3,
    /// <summary>Being shut down (the guest was asked to power off and has not yet).</summary>
    Shutdown = 4,
    /// <summary>Not running (a defined domain that is stopped).</summary>
    Shutoff = 5,
    Crashed = 6,
    PMSuspended = 7,
}

/// <summary>virDomainCreateFlags, for <see cref="LibvirtDomain.Create"/> and <see cref="LibvirtConnection.CreateXml"/>.</summary>
[Flags]
public enum DomainCreateFlags : uint
{
    None = 0,
    /// <summary>VIR_DOMAIN_START_PAUSED: CPUs stopped until <see cref="LibvirtDomain.Resume"/> (open the console first, lose no output).</summary>
    Paused = 1,
    /// <summary>VIR_DOMAIN_START_AUTODESTROY: destroyed when the connection that started it closes.</summary>
    AutoDestroy = 2,
    BypassCache = 4,
    ForceBoot = 8,
    /// <summary>VIR_DOMAIN_START_VALIDATE: validate the XML against the schema (CreateXml only).</summary>
    Validate = 16,
    ResetNvram = 32,
}

/// <summary>virDomainUndefineFlagsValues, for <see cref="LibvirtDomain.Undefine"/>.</summary>
[Flags]
public enum DomainUndefineFlags : uint
{
    None = 0,
    ManagedSave = 1,
    SnapshotsMetadata = 2,
    /// <summary>VIR_DOMAIN_UNDEFINE_NVRAM: also delete the UEFI variables file (needed to undefine a UEFI domain that has one).</summary>
    Nvram = 4,
    KeepNvram = 8,
    CheckpointsMetadata = 16,
    Tpm = 32,
    KeepTpm = 64,
}

/// <summary>virDomainXMLFlags, for <see cref="LibvirtDomain.GetXmlDesc"/>.</summary>
[Flags]
public enum DomainXmlFlags : uint
{
    None = 0,
    Secure = 1,
    /// <summary>VIR_DOMAIN_XML_INACTIVE: the persistent definition (what the next boot uses), not the live one.</summary>
    Inactive = 2,
    UpdateCpu = 4,
    Migratable = 8,
}

/// <summary>virDomainModificationImpact (also the low bits of virDomainVcpuFlags and virDomainMemoryModFlags).</summary>
[Flags]
public enum DomainModificationImpact : uint
{
    /// <summary>The live domain if running, else the persistent definition.</summary>
    Current = 0,
    Live = 1,
    Config = 2,
    /// <summary>VIR_DOMAIN_VCPU_MAXIMUM / VIR_DOMAIN_MEM_MAXIMUM (both 4): the maximum, for <see cref="LibvirtDomain.SetVcpus"/> and <see cref="LibvirtDomain.SetMemory"/> only.</summary>
    Maximum = 4,
}

/// <summary>virDomainConsoleFlags, for <see cref="LibvirtDomain.OpenConsole"/>.</summary>
[Flags]
public enum DomainConsoleFlags : uint
{
    None = 0,
    /// <summary>VIR_DOMAIN_CONSOLE_FORCE: take the console from another session holding it.</summary>
    Force = 1,
    /// <summary>VIR_DOMAIN_CONSOLE_SAFE: only if the driver can guarantee exclusive access.</summary>
    Safe = 2,
}

/// <summary>virDomainEventType: the kind of a lifecycle event (<see cref="LibvirtConnection.OnLifecycle"/>); its detail is the matching virDomainEvent*DetailType.</summary>
public enum DomainEventType
{
    Defined = 0,
    Undefined = 1,
    Started = 2,
    Suspended = 3,
    Resumed = 4,
    /// <summary>The domain stopped (detail: virDomainEventStoppedDetailType: 0 shutdown, 1 destroyed, 2 crashed, 3 migrated, 4 saved, 5 failed, 6 snapshot).</summary>
    Stopped = 5,
    /// <summary>The guest is shutting down (detail: virDomainEventShutdownDetailType).</summary>
    Shutdown = 6,
    PMSuspended = 7,
    Crashed = 8,
}

/// <summary>virDomainInfo: <see cref="LibvirtDomain.GetInfo"/>.</summary>
/// <param name="State">The domain's state.</param>
/// <param name="MaxMemoryKiB">The maximum memory allowed, KiB.</param>
/// <param name="MemoryKiB">The memory the domain uses, KiB.</param>
/// <param name="VirtCpus">The number of virtual CPUs.</param>
/// <param name="CpuTimeNs">CPU time used, nanoseconds.</param>
public readonly record struct DomainInfo(DomainState State, ulong MaxMemoryKiB, ulong MemoryKiB, uint VirtCpus, ulong CpuTimeNs);

/// <summary>virDomainInterfaceStatsStruct (the counters the hypervisor knows; -1 where it does not).</summary>
public readonly record struct InterfaceStats(long RxBytes, long RxPackets, long TxBytes, long TxPackets,
    long RxErrors = -1, long RxDrops = -1, long TxErrors = -1, long TxDrops = -1);

/// <summary>
/// virDomainMemoryStats, in bytes; null where the driver or guest reports nothing: <c>Rss</c> is QEMU's resident
/// memory on the host, <c>ActualBalloon</c> the guest's current memory size; the others need the guest's balloon
/// driver with statistics on (<c>Available</c>: memory the guest sees, <c>Unused</c>: free, <c>Usable</c>: reclaimable without swapping).
/// </summary>
public sealed record DomainMemoryStats(long? ActualBalloon, long? Rss, long? Available, long? Unused, long? Usable, long? DiskCaches);

/// <summary>virDomainBlockStatsStruct (-1 where the hypervisor does not know).</summary>
public readonly record struct BlockStats(long ReadRequests, long ReadBytes, long WriteRequests, long WriteBytes, long Errors);
