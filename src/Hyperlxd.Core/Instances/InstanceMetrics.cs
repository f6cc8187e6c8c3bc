namespace Hyperlxd.Core.Instances;

/// <summary>
/// One instance's figures for <c>/1.0/metrics</c>, in LXD 5.0.2's terms (lxd/metrics/types.go): CPU time per
/// CPU and mode, memory by <c>/proc/meminfo</c>-like name ("MemTotal", "RSS", …, without the
/// <c>lxd_memory_</c> prefix and <c>_bytes</c> suffix), counters per network device and filesystem sizes
/// per disk device. Anything the driver cannot read is simply absent.
/// </summary>
public sealed record InstanceMetrics(
    IReadOnlyList<CpuTime> Cpu,
    IReadOnlyDictionary<string, long> Memory,
    IReadOnlyList<NetworkCounters> Network,
    int? Processes)
{
    public IReadOnlyList<FilesystemUsage> Filesystems { get; init; } = [];

    /// <summary>I/O counters per block device (containers: the host's disk name from /proc/partitions; VMs: QEMU's device id).</summary>
    public IReadOnlyList<DiskCounters> Disks { get; init; } = [];
}

/// <summary>Seconds spent by <paramref name="Cpu"/> (a CPU number, as a label) in <paramref name="Mode"/> ("user", "system").</summary>
public sealed record CpuTime(string Cpu, string Mode, double Seconds);

public sealed record NetworkCounters(string Device, long BytesReceived, long PacketsReceived, long ErrorsReceived, long DropsReceived,
    long BytesSent, long PacketsSent, long ErrorsSent, long DropsSent);

public sealed record DiskCounters(string Device, long ReadBytes, long ReadsCompleted, long WrittenBytes, long WritesCompleted);

/// <summary>statvfs of a disk device's filesystem as the instance sees it at <paramref name="Mountpoint"/>.</summary>
public sealed record FilesystemUsage(string Device, string Mountpoint, string FsType, long SizeBytes, long FreeBytes, long AvailBytes);
