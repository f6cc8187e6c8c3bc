namespace Hyperlxd.Core.Instances;

public enum InstanceType
{
    Container,
    VirtualMachine,
}

public static class InstanceTypes
{
    public static string ToApi(this InstanceType type) => type == InstanceType.Container ? "container" : "virtual-machine";

    public static InstanceType Parse(string? text) => text switch
    {
        null or "" or "container" => InstanceType.Container,
        "virtual-machine" => InstanceType.VirtualMachine,
        _ => throw new BadRequestException($"Invalid instance type \"{text}\": must be \"container\" or \"virtual-machine\""),
    };
}

/// <summary>
/// One instance as a driver sees it: config and devices expanded with its profiles, its mounted
/// root volume, and a private directory for the driver's runtime files.
/// </summary>
public sealed record InstanceSpec(
    string Name,
    InstanceType Type,
    string Architecture,
    IReadOnlyDictionary<string, string> Config,
    IReadOnlyDictionary<string, Dictionary<string, string>> Devices,
    string RootPath,
    string StateDir)
{
    /// <summary>Host paths the driver mounts, from the devices' setup before a start (empty otherwise).</summary>
    public IReadOnlyList<Devices.DeviceMount> Mounts { get; init; } = [];

    /// <summary>The nics the devices' setup made before a start (empty otherwise): the driver moves each peer in.</summary>
    public IReadOnlyList<Networks.NicPlan> Nics { get; init; } = [];

    /// <summary>The device nodes (unix-char, unix-block) the devices' setup asks for before a start (empty otherwise).</summary>
    public IReadOnlyList<Devices.DeviceNode> Nodes { get; init; } = [];

    /// <summary>The name clients know (<see cref="Name"/> is the storage key, <c>project_name</c> outside the default project): for messages and the guest.</summary>
    public string DisplayName => ProjectKeys.InstanceName(Name);
}

public sealed record DriverInfo(string Name, string Version, bool Available, string? Reason);

public enum InstanceStatus
{
    Stopped,
    Running,
    Frozen,
    Error,
}

/// <summary>How init ended: exit code, or the signal that ended it (e.g. SIGPWR-initiated halt).</summary>
public sealed record ExitInfo(int Code, int Signal, string Reason, DateTimeOffset At);

public sealed record NetworkAddress(string Family, string Address, string Netmask, string Scope);

/// <summary>One interface of a running instance, as LXD's state reports it.</summary>
/// <param name="Type">"broadcast", "loopback" or "point-to-point".</param>
/// <param name="HostName">The host-side end of a nic (its veth on the bridge); "" for others.</param>
public sealed record NetworkState(string Type, string State, string HwAddr, int Mtu, IReadOnlyList<NetworkAddress> Addresses, long BytesReceived, long BytesSent,
    long PacketsReceived = 0, long PacketsSent = 0, string HostName = "");

public sealed record RuntimeState(
    InstanceStatus Status,
    int Pid,
    int Processes,
    long CpuNanoseconds,
    long MemoryBytes,
    long MemoryPeakBytes,
    IReadOnlyDictionary<string, NetworkState> Network,
    ExitInfo? LastExit)
{
    /// <summary>Bytes used per disk device ("root"), where the storage backend accounts it.</summary>
    public IReadOnlyDictionary<string, long> DiskUsage { get; init; } = new Dictionary<string, long>();

    public static RuntimeState Stopped(ExitInfo? exit = null) =>
        new(InstanceStatus.Stopped, 0, 0, 0, 0, 0, new Dictionary<string, NetworkState>(), exit);
}

/// <summary>What <c>POST /1.0/instances/{name}/exec</c> asks for.</summary>
public sealed record ExecOptions(
    IReadOnlyList<string> Command,
    IReadOnlyDictionary<string, string> Environment,
    bool Interactive,
    int Width,
    int Height,
    uint Uid,
    uint Gid,
    string Cwd);

/// <summary>
/// A running command inside an instance. Non-interactive: three pipes. Interactive: one pty
/// (<see cref="Pty"/> carries both directions; stdout and stderr are combined).
/// </summary>
public interface IExecSession : IAsyncDisposable
{
    Stream? Stdin { get; }
    Stream? Stdout { get; }
    Stream? Stderr { get; }
    Stream? Pty { get; }

    /// <summary>The exit code; 128+N when a signal N ended it, as a shell reports it.</summary>
    Task<int> WaitAsync(CancellationToken ct);

    void Signal(int signal);

    void Resize(int width, int height);
}

public enum FileType
{
    File,
    Directory,
    Symlink,
}

/// <summary>A file read from an instance: content for files, entry names for directories, the target for links.</summary>
public sealed record InstanceFile(FileType Type, uint Uid, uint Gid, uint Mode, Stream? Content, IReadOnlyList<string>? Entries, string? Target) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => Content?.DisposeAsync() ?? ValueTask.CompletedTask;
}

/// <summary>How to write a file: <see cref="Append"/> adds to an existing file; <see cref="Target"/> is the symlink target.</summary>
public sealed record FileWrite(FileType Type, uint? Uid, uint? Gid, uint? Mode, bool Append, string? Target);
