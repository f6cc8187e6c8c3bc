using Hyperlxd.Core.Config;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Core.Devices;

/// <summary>A key a device type accepts; <see cref="Only"/> restricts it to one instance type (LXD's "VM only").</summary>
public sealed record DeviceKey(string Name, InstanceType? Only = null);

/// <summary>A host path the driver mounts into the instance (a disk device's bind mount for a container).</summary>
public sealed record DeviceMount(string Device, string Source, string Target, bool ReadOnly);

/// <summary>What the host offers a device's setup: the storage it may reference.</summary>
public interface IDeviceHost
{
    /// <summary>The host path of custom volume <paramref name="volume"/> on <paramref name="pool"/>; a 400 naming them when it does not exist.</summary>
    string VolumePath(string pool, string volume);
}

/// <summary>One device of one instance, as its lifecycle hooks see it.</summary>
/// <param name="Volatile">The instance's <c>volatile.&lt;device&gt;.*</c> keys, without that prefix.</param>
public sealed record DeviceContext(
    string Instance,
    InstanceType Type,
    string Name,
    IReadOnlyDictionary<string, string> Config,
    IReadOnlyDictionary<string, string> Volatile,
    IDeviceHost Host);

/// <summary>
/// What a device's setup hands the driver, and the <c>volatile.&lt;device&gt;.*</c> keys (without that
/// prefix; "" removes one) the manager records for it.
/// </summary>
public sealed record DeviceSetup(IReadOnlyList<DeviceMount> Mounts, IReadOnlyDictionary<string, string> Volatile)
{
    public static readonly DeviceSetup Nothing = new([], new Dictionary<string, string>());
}

/// <summary>
/// One LXD device type: the keys it accepts per instance type, and its host-side lifecycle around the
/// driver. The manager calls <see cref="SetupAsync"/> before every start and <see cref="TeardownAsync"/>
/// after every stop, after an instance ended by itself and, at daemon start, for an instance that died
/// while the daemon was down. Both must be safe to repeat. Types are named once, in <see cref="DeviceTypes"/>.
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
        Check(name, device);
    }

    /// <summary>The type's own rules, after the key names are known good.</summary>
    protected virtual void Check(string name, IReadOnlyDictionary<string, string> device)
    {
    }

    /// <summary>Host-side setup before a start; returns what the driver needs.</summary>
    public virtual Task<DeviceSetup> SetupAsync(DeviceContext device, CancellationToken ct) => Task.FromResult(DeviceSetup.Nothing);

    /// <summary>Undoes <see cref="SetupAsync"/> once the instance has stopped (or crashed); returns volatile keys to change ("" removes).</summary>
    public virtual Task<IReadOnlyDictionary<string, string>> TeardownAsync(DeviceContext device, CancellationToken ct) =>
        Task.FromResult<IReadOnlyDictionary<string, string>>(new Dictionary<string, string>());

    protected static string Plural(InstanceType type) => type == InstanceType.Container ? "containers" : "virtual machines";

    /// <summary>Throws the 400 the existing messages use for a value that breaks a type's rule.</summary>
    protected void Problem(string name, string problem) => throw new BadRequestException($"Device \"{name}\": {Type} device {problem}");

    protected static void BadValue(string name, string key, string problem) =>
        throw new BadRequestException($"Device \"{name}\": invalid value for \"{key}\": {problem}");

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
