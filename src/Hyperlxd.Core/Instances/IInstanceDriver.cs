namespace Hyperlxd.Core.Instances;

/// <summary>
/// The one contract both instance drivers (containers, virtual machines) implement. The daemon owns
/// records, profiles, storage and operations; a driver only turns an expanded <see cref="InstanceSpec"/>
/// into a running instance and back. Methods are idempotent where a crash could repeat them.
/// </summary>
public interface IInstanceDriver
{
    InstanceType Type { get; }

    /// <summary>Probed once at start; an unavailable driver says why instead of failing the daemon.</summary>
    DriverInfo Info { get; }

    /// <summary>What the driver can do beyond the lifecycle; the API refuses the rest with a 400 naming the feature.</summary>
    DriverFeatures Features { get; }

    // ---- Lifecycle -----------------------------------------------------------------------------

    /// <summary>
    /// The <c>volatile.*</c> keys an instance's config decides together with the other instances (a
    /// container's id map, allocated so that isolated containers never share ids); <paramref name="others"/>
    /// reads the expanded configs of every other instance of this type. The daemon calls it on create,
    /// when the config changes and before each start, one call at a time, and records the result before
    /// the next call. Throws <see cref="BadRequestException"/> naming the key that makes no valid plan.
    /// </summary>
    Task<IReadOnlyDictionary<string, string>> PlanVolatileAsync(IReadOnlyDictionary<string, string> config,
        Func<CancellationToken, Task<IReadOnlyList<IReadOnlyDictionary<string, string>>>> others, CancellationToken ct) =>
        Task.FromResult<IReadOnlyDictionary<string, string>>(new Dictionary<string, string>());

    /// <summary>
    /// Readies the root volume for the planned keys, after create and before every start (e.g. shifts
    /// file ownership into the instance's id range), and returns the <c>volatile.*</c> keys to persist
    /// (e.g. the id map the disk now holds).
    /// </summary>
    Task<IReadOnlyDictionary<string, string>> PrepareAsync(InstanceSpec spec, CancellationToken ct);

    Task StartAsync(InstanceSpec spec, CancellationToken ct);

    /// <summary>
    /// Completes when the running instance ends (by itself or not) with how it ended; null when it was
    /// not running or the driver cannot tell. Drivers that cannot watch never complete (until <paramref name="ct"/>).
    /// </summary>
    async Task<ExitInfo?> WaitExitAsync(InstanceSpec spec, CancellationToken ct)
    {
        await Task.Delay(Timeout.Infinite, ct);
        return null;
    }

    /// <summary>Graceful: the init's own halt signal, then a kill after <paramref name="timeout"/>; <paramref name="force"/> kills at once.</summary>
    Task StopAsync(InstanceSpec spec, bool force, TimeSpan timeout, CancellationToken ct);

    Task FreezeAsync(InstanceSpec spec, CancellationToken ct);

    Task UnfreezeAsync(InstanceSpec spec, CancellationToken ct);

    /// <summary>Releases what a stopped or crashed instance left (cgroups, sockets, mounts). Safe to repeat.</summary>
    Task CleanupAsync(InstanceSpec spec, CancellationToken ct);

    /// <summary>
    /// The instance is deleted (or renamed away from this name) while stopped: removes what the driver
    /// keeps about it outside its state directory (e.g. the exit record). Safe to repeat.
    /// </summary>
    void Forget(InstanceSpec spec)
    {
    }

    /// <summary>
    /// The stopped instance is renamed to <paramref name="newName"/>: the manager has moved its root volume
    /// and state directory (<paramref name="spec"/> still names the old ones); the driver moves (or drops)
    /// what it keys by name elsewhere (an exit record, a
    /// hypervisor's domain name or firmware variables). Called under the instance lock; undone by the
    /// reverse call when a later step fails.
    /// </summary>
    Task RenameAsync(InstanceSpec spec, string newName, CancellationToken ct);

    /// <summary>
    /// Before the storage snapshot of <paramref name="spec"/>'s root volume (running or not): a driver may
    /// freeze or quiesce the instance here. <see cref="AfterSnapshotAsync"/> always follows, also when the
    /// snapshot failed.
    /// </summary>
    Task BeforeSnapshotAsync(InstanceSpec spec, CancellationToken ct) => Task.CompletedTask;

    /// <summary>After the storage snapshot (successful or not): undoes <see cref="BeforeSnapshotAsync"/>.</summary>
    Task AfterSnapshotAsync(InstanceSpec spec, CancellationToken ct) => Task.CompletedTask;

    /// <summary>
    /// At daemon start: re-attaches to what still runs and cleans runtime leftovers of instances
    /// that are not in <paramref name="known"/> (deleted while the daemon was down, or half-created).
    /// </summary>
    Task ReconcileAsync(IReadOnlyCollection<InstanceSpec> known, CancellationToken ct);

    /// <summary>At daemon stop (instances keep running): removes host state that only the daemon's own use needed.</summary>
    void Shutdown()
    {
    }

    // ---- Status and live configuration ---------------------------------------------------------

    Task<RuntimeState> GetStateAsync(InstanceSpec spec, CancellationToken ct);

    /// <summary>Figures for <c>/1.0/metrics</c> of a running instance; null where the driver has none (then it is left out).</summary>
    Task<InstanceMetrics?> MetricsAsync(InstanceSpec spec, CancellationToken ct) => Task.FromResult<InstanceMetrics?>(null);

    /// <summary>Only whether it runs (or is frozen): for checks on a request path, where usage figures are not needed.</summary>
    async Task<InstanceStatus> GetStatusAsync(InstanceSpec spec, CancellationToken ct) => (await GetStateAsync(spec, ct)).Status;

    /// <summary>
    /// Hot-plug of a nic into the running instance: the network host has made <paramref name="nic"/>; the
    /// driver moves its peer in, named <see cref="Networks.NicPlan.Name"/> and up. Its removal is the
    /// network host's (deleting the host end removes the peer).
    /// </summary>
    Task AttachNicAsync(InstanceSpec spec, Networks.NicPlan nic, CancellationToken ct) =>
        throw new BadRequestException($"The {Type.ToApi()} driver \"{Info.Name}\" cannot add a nic to a running instance");

    /// <summary>
    /// Hot-unplug of a nic, before the network host removes its host end <paramref name="hostName"/>: a VM's
    /// device must leave the guest (and its definition) first; a container's peer dies with the host end.
    /// </summary>
    Task DetachNicAsync(InstanceSpec spec, string device, string hostName, CancellationToken ct) => Task.CompletedTask;

    /// <summary>
    /// Hot-plug of device <paramref name="device"/>'s mounts (a disk) and nodes (unix-char, unix-block), as its
    /// setup produced them, into the running instance. A 400 when the driver cannot (nothing changed then).
    /// </summary>
    Task AttachDeviceAsync(InstanceSpec spec, string device, IReadOnlyList<Devices.DeviceMount> mounts, IReadOnlyList<Devices.DeviceNode> nodes, CancellationToken ct) =>
        throw new BadRequestException($"The {Type.ToApi()} driver \"{Info.Name}\" cannot add device \"{device}\" to a running instance: stop it first");

    /// <summary>
    /// The kind and numbers of the node device <paramref name="device"/> has plugged into the running instance,
    /// or null when none is (a <c>required=false</c> unix device whose host node is missing).
    /// </summary>
    (char Kind, uint Major, uint Minor)? PluggedNode(InstanceSpec spec, string device) => null;

    /// <summary>Hot-unplug: removes what device <paramref name="device"/> shows at <paramref name="targets"/> inside the running instance (mounts, nodes and their cgroup access).</summary>
    Task DetachDeviceAsync(InstanceSpec spec, string device, IReadOnlyList<string> targets, CancellationToken ct) =>
        throw new BadRequestException($"The {Type.ToApi()} driver \"{Info.Name}\" cannot remove device \"{device}\" from a running instance: stop it first");

    /// <summary>
    /// The id map (LXD's JSON, "[]" for none) a custom volume attached to an instance with <paramref name="config"/>
    /// must be shifted to (LXD's volume <c>volatile.idmap.last</c>); null when the driver shifts no volumes (VMs).
    /// </summary>
    string? VolumeIdmap(IReadOnlyDictionary<string, string> config) => null;

    /// <summary>Re-owns the files under <paramref name="path"/> from id map <paramref name="fromJson"/> to <paramref name="toJson"/> (LXD's JSON; "" or "[]": unshifted).</summary>
    void ShiftVolume(string path, string fromJson, string toJson)
    {
    }

    /// <summary>
    /// The running instance's network namespace as a path another process can open (<c>/proc/PID/ns/net</c>),
    /// for a proxy device's forwarder; null when it is not running or the driver has none (a VM).
    /// </summary>
    Task<string?> NetworkNamespaceAsync(InstanceSpec spec, CancellationToken ct) => Task.FromResult<string?>(null);

    /// <summary>Applies changed keys to a running instance (limits); throws <see cref="BadRequestException"/> for keys that cannot change live.</summary>
    Task ApplyConfigAsync(InstanceSpec spec, IReadOnlyDictionary<string, string> changed, CancellationToken ct);

    // ---- Exec, console, files ------------------------------------------------------------------

    /// <summary>An exec was requested and will follow once its client connects: drivers may start slow preparation now.</summary>
    void ExpectExec(InstanceSpec spec)
    {
    }

    Task<IExecSession> ExecAsync(InstanceSpec spec, ExecOptions options, CancellationToken ct);

    /// <summary>A two-way byte stream to the instance console.</summary>
    Task<Stream> ConsoleAsync(InstanceSpec spec, CancellationToken ct);

    Task<byte[]> ConsoleLogAsync(InstanceSpec spec, CancellationToken ct);

    /// <summary>Paths resolve inside the instance root; links never lead out of it.</summary>
    Task<InstanceFile> GetFileAsync(InstanceSpec spec, string path, CancellationToken ct);

    Task PutFileAsync(InstanceSpec spec, string path, FileWrite write, Stream content, CancellationToken ct);

    Task DeleteFileAsync(InstanceSpec spec, string path, CancellationToken ct);
}

/// <summary>What a driver supports beyond the lifecycle (a VM's guest agent may have no pty or signals).</summary>
[Flags]
public enum DriverFeatures
{
    None = 0,

    /// <summary>Exec with a terminal (<c>interactive: true</c>).</summary>
    InteractiveExec = 1,

    /// <summary>Signals forwarded to an exec'd command.</summary>
    Signals = 2,

    /// <summary>Window size changes of an interactive exec.</summary>
    WindowResize = 4,

    /// <summary>Reading and writing files (<c>/1.0/instances/{name}/files</c>).</summary>
    Files = 8,

    /// <summary>The console (<c>/1.0/instances/{name}/console</c>).</summary>
    Console = 16,

    All = InteractiveExec | Signals | WindowResize | Files | Console,
}

public static class DriverFeaturesExtensions
{
    /// <summary>The feature's name in an error message ("interactive exec").</summary>
    public static string Describe(this DriverFeatures feature) => feature switch
    {
        DriverFeatures.InteractiveExec => "interactive exec",
        DriverFeatures.Signals => "signals",
        DriverFeatures.WindowResize => "window resize",
        DriverFeatures.Files => "file access",
        DriverFeatures.Console => "console",
        _ => feature.ToString(),
    };

    /// <summary>Throws a 400 naming <paramref name="feature"/> when <paramref name="driver"/> lacks it.</summary>
    public static void Require(this IInstanceDriver driver, DriverFeatures feature)
    {
        if (!driver.Features.HasFlag(feature))
        {
            throw new BadRequestException($"The {driver.Type.ToApi()} driver \"{driver.Info.Name}\" does not support {feature.Describe()}");
        }
    }
}

/// <summary>The drivers by instance type: the one place the daemon finds them.</summary>
public sealed class InstanceDrivers(IEnumerable<IInstanceDriver> drivers)
{
    private readonly Dictionary<InstanceType, IInstanceDriver> _byType = drivers.ToDictionary(d => d.Type);

    public IEnumerable<IInstanceDriver> All => _byType.Values;

    public IInstanceDriver For(InstanceType type)
    {
        if (!_byType.TryGetValue(type, out var driver))
        {
            throw new BadRequestException($"Instance type \"{type.ToApi()}\" is not supported by this server");
        }
        return driver.Info.Available
            ? driver
            : throw new BadRequestException($"Instance type \"{type.ToApi()}\" is unavailable on this host: {driver.Info.Reason}");
    }
}
