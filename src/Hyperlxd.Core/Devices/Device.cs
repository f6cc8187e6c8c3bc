using Hyperlxd.Core.Config;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Networks;

namespace Hyperlxd.Core.Devices;

/// <summary>A key a device type accepts; <see cref="Only"/> restricts it to one instance type (LXD's "VM only").</summary>
public sealed record DeviceKey(string Name, InstanceType? Only = null);

/// <summary>A host path the driver mounts into the instance (a disk device's bind mount for a container).</summary>
public sealed record DeviceMount(string Device, string Source, string Target, bool ReadOnly);

/// <summary>
/// A device node a <c>unix-char</c>/<c>unix-block</c> device puts at <see cref="Target"/> inside a container:
/// <see cref="Kind"/> 'c' or 'b', its numbers, and the owner (ids inside the container) and mode it gets there.
/// The driver makes the node on the host (owned by the mapped ids), binds it in and allows it in the device cgroup.
/// </summary>
public sealed record DeviceNode(string Device, string Target, char Kind, uint Major, uint Minor, uint Uid, uint Gid, uint Mode)
{
    /// <summary>The cgroup v1 <c>devices.allow</c> rule of this node ("c 10:200 rwm").</summary>
    public string Rule => $"{Kind} {Major}:{Minor} rwm";
}

/// <summary>What the host offers a device's setup: the storage it may reference, the networks, the proxy forwarders.</summary>
public interface IDeviceHost
{
    /// <summary>
    /// What a host-path disk of <paramref name="device"/>'s instance mounts for <paramref name="source"/>: the path
    /// itself, or (a path confined by its project) the file it names now, pinned where nobody else can change it.
    /// </summary>
    Task<string> HostPathAsync(DeviceContext device, string source, CancellationToken ct);

    /// <summary>
    /// Readies custom volume <paramref name="volume"/> for <paramref name="device"/>'s instance (a container's:
    /// its files shifted to the container's id map, as LXD does on attach) and returns its host path.
    /// </summary>
    Task<string> AttachVolumeAsync(DeviceContext device, string pool, string volume, CancellationToken ct);

    /// <summary>The kind ('c' or 'b') and numbers of the host device node at <paramref name="path"/> (links followed), or null when there is none.</summary>
    (char Kind, uint Major, uint Minor)? DeviceNumbers(string path);

    /// <summary>The networking layer (a no-networking stand-in that refuses nics when none is registered).</summary>
    INetworkHost Networks { get; }

    /// <summary>The supervised forwarding processes of non-NAT proxy devices.</summary>
    IProxyForwarders Forwarders { get; }
}

/// <summary>One device of one instance, as its lifecycle hooks see it.</summary>
/// <param name="Volatile">The instance's <c>volatile.&lt;device&gt;.*</c> keys, without that prefix.</param>
public sealed record DeviceContext(
    string Instance,
    InstanceType Type,
    string Name,
    IReadOnlyDictionary<string, string> Config,
    IReadOnlyDictionary<string, string> Volatile,
    IDeviceHost Host)
{
    /// <summary>Every device of the instance, expanded (a NAT proxy looks for the nic holding its connect address).</summary>
    public IReadOnlyDictionary<string, Dictionary<string, string>> Devices { get; init; } = new Dictionary<string, Dictionary<string, string>>();

    /// <summary>The instance's expanded config (a nic's host name lives in <c>volatile.&lt;nic&gt;.host_name</c>).</summary>
    public IReadOnlyDictionary<string, string> InstanceConfig { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// What a device's setup hands the driver, and the <c>volatile.&lt;device&gt;.*</c> keys (without that
/// prefix; "" removes one) the manager records for it.
/// </summary>
public sealed record DeviceSetup(IReadOnlyList<DeviceMount> Mounts, IReadOnlyDictionary<string, string> Volatile)
{
    public static readonly DeviceSetup Nothing = new([], new Dictionary<string, string>());

    /// <summary>The nics the setup made (host side ready, peer to be moved into the instance by the driver).</summary>
    public IReadOnlyList<NicPlan> Nics { get; init; } = [];

    /// <summary>The device nodes the driver makes inside the instance.</summary>
    public IReadOnlyList<DeviceNode> Nodes { get; init; } = [];
}

/// <summary>
/// One LXD device type: the keys it accepts per instance type, and its host-side lifecycle around the
/// driver. The manager calls <see cref="CheckAsync"/> when an instance's config is written,
/// <see cref="SetupAsync"/> before every start, <see cref="StartedAsync"/> once the driver runs the
/// instance (and at daemon start for one still running), and <see cref="TeardownAsync"/> after every
/// stop, after an instance ended by itself and, at daemon start, for an instance that died while the
/// daemon was down. All must be safe to repeat. A <see cref="HotPluggable"/> type goes through the same
/// hooks when it is added to or removed from a running instance. Types are named once, in <see cref="DeviceTypes"/>.
/// </summary>
public abstract class Device
{
    private readonly Dictionary<string, DeviceKey> _keys;
    private readonly string[] _required;

    protected Device(string type, IEnumerable<DeviceKey> keys, params string[] required)
    {
        Type = type;
        _keys = keys.ToDictionary(k => k.Name);
        _required = required;
    }

    protected Device(string type, IEnumerable<string> keys, params string[] required)
        : this(type, keys.Select(k => new DeviceKey(k)), required)
    {
    }

    /// <summary>The LXD device type ("disk").</summary>
    public string Type { get; }

    /// <summary>False for a type whose keys are known but which does nothing yet: it is refused rather than accepted and ignored.</summary>
    public virtual bool Implemented => true;

    /// <summary>Whether the device may be added to, removed from or changed on a running instance.</summary>
    public virtual bool HotPluggable => false;

    /// <summary>Where the device shows inside a running instance (a disk's mount point, a node's path): what a hot-unplug removes.</summary>
    public virtual IReadOnlyList<string> Targets(IReadOnlyDictionary<string, string> config) => [];

    /// <summary>Whether <see cref="StartedAsync"/> does anything (the manager asks the driver for the network namespace only then).</summary>
    public virtual bool RunsAfterStart => false;

    /// <summary>
    /// Checks one device's keys; <paramref name="instanceType"/> is null for a profile (which may serve
    /// either type). Throws <see cref="BadRequestException"/> naming the device and the key.
    /// </summary>
    public void Validate(string name, IReadOnlyDictionary<string, string> device, InstanceType? instanceType)
    {
        foreach (var key in device.Keys)
        {
            if (key == "type" || key.StartsWith("user.", StringComparison.Ordinal))
            {
                continue;
            }
            if (!_keys.TryGetValue(key, out var known))
            {
                throw new BadRequestException($"Device \"{name}\": unknown key \"{key}\" for a {Type} device");
            }
            if (instanceType is { } t && known.Only is { } only && only != t)
            {
                throw new BadRequestException($"Device \"{name}\": key \"{key}\" applies to {Plural(only)} only");
            }
        }
        foreach (var key in _required)
        {
            if (!device.ContainsKey(key))
            {
                throw new BadRequestException($"Device \"{name}\": missing required key \"{key}\"");
            }
        }
        Check(name, device, instanceType);
    }

    /// <summary>The type's own rules, after the key names are known good.</summary>
    protected virtual void Check(string name, IReadOnlyDictionary<string, string> device)
    {
    }

    /// <summary>The type's own rules that depend on the instance type (null: a profile, either type).</summary>
    protected virtual void Check(string name, IReadOnlyDictionary<string, string> device, InstanceType? instanceType) => Check(name, device);

    /// <summary>
    /// Checks a valid device of one instance against the host, changing nothing (a nic's network exists,
    /// its address is free): called when an instance's config is written, so a conflict is the request's 4xx.
    /// </summary>
    public virtual Task CheckAsync(DeviceContext device, CancellationToken ct) => Task.CompletedTask;

    /// <summary>Host-side setup before a start; returns what the driver needs.</summary>
    public virtual Task<DeviceSetup> SetupAsync(DeviceContext device, CancellationToken ct) => Task.FromResult(DeviceSetup.Nothing);

    /// <summary>
    /// After the driver started the instance (or hot-plugged the device, or at daemon start for an instance
    /// that kept running): <paramref name="netns"/> is its network namespace (<c>/proc/PID/ns/net</c>; null
    /// when the driver has none). Returns volatile keys to change ("" removes).
    /// </summary>
    public virtual Task<IReadOnlyDictionary<string, string>> StartedAsync(DeviceContext device, string? netns, CancellationToken ct) =>
        Task.FromResult<IReadOnlyDictionary<string, string>>(new Dictionary<string, string>());

    /// <summary>Undoes <see cref="SetupAsync"/> once the instance has stopped (or crashed); returns volatile keys to change ("" removes).</summary>
    public virtual Task<IReadOnlyDictionary<string, string>> TeardownAsync(DeviceContext device, CancellationToken ct) =>
        Task.FromResult<IReadOnlyDictionary<string, string>>(new Dictionary<string, string>());

    protected static string Plural(InstanceType type) => type == InstanceType.Container ? "containers" : "virtual machines";

    /// <summary>Throws the 400 the existing messages use for a value that breaks a type's rule.</summary>
    protected void Problem(string name, string problem) => throw new BadRequestException($"Device \"{name}\": {Type} device {problem}");

    protected static void BadValue(string name, string key, string problem) =>
        throw new BadRequestException($"Device \"{name}\": invalid value for \"{key}\": {problem}");

    /// <summary>The key's value when set to something other than "" (LXD's optional keys take "" as unset).</summary>
    protected static string? Value(IReadOnlyDictionary<string, string> device, string key) =>
        device.TryGetValue(key, out var v) && v.Length > 0 ? v : null;

    protected static void CheckBool(string name, IReadOnlyDictionary<string, string> device, string key)
    {
        if (device.TryGetValue(key, out var value) && Validators.Bool(value) is { } bad)
        {
            throw new BadRequestException($"Device \"{name}\": \"{key}\" {bad}");
        }
    }
}

/// <summary>LXD's <c>none</c>: masks a profile's device of the same name; nothing reaches the instance.</summary>
public sealed class NoneDevice() : Device("none", Array.Empty<string>());
