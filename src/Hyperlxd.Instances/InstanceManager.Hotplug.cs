using Hyperlxd.Core;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Instances;

/// <summary>
/// Device changes on a running instance (LXD's hot-plug): nics, proxies, non-root disks, unix-char and
/// unix-block (the driver mounts or unmounts them inside). A removed device is torn
/// down, an added one checked, set up, attached by the driver and started; a changed one is removed then
/// added. All or nothing: every step registers its undo with the caller's <see cref="Reverter"/>, and the
/// volatile keys are only changed in memory, for the caller to write with the config.
/// </summary>
public sealed partial class InstanceManager
{
    /// <summary>
    /// Applies the device differences between <paramref name="old"/> and <paramref name="updated"/> (the same
    /// running instance) and returns the changed <c>volatile.*</c> keys ("" removes), mirrored into
    /// <paramref name="updated"/>. Another type's change is a 400 naming the device.
    /// </summary>
    private async Task<Dictionary<string, string>> HotplugAsync(Expanded old, Expanded updated, Reverter revert, CancellationToken ct)
    {
        var (before, after) = (WithoutRootSize(old.Devices), WithoutRootSize(updated.Devices));
        var removed = before.Keys.Where(k => !after.TryGetValue(k, out var d) || !SameDevice(before[k], d)).OrderByDescending(k => k, StringComparer.Ordinal).ToList();
        var added = after.Keys.Where(k => !before.TryGetValue(k, out var d) || !SameDevice(d, after[k])).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var changed = new Dictionary<string, string>();
        if (removed.Count + added.Count == 0)
        {
            return changed;
        }
        foreach (var (name, device) in removed.Select(n => (n, before[n])).Concat(added.Select(n => (n, after[n]))))
        {
            if (!DeviceTypes.Of(device).HotPluggable)
            {
                throw new BadRequestException(
                    $"Device changes on a running instance are not supported yet for device \"{name}\" (type \"{device.GetValueOrDefault("type")}\"): stop it first");
            }
            if (device.GetValueOrDefault("type") == "disk" && DiskDevice.IsRoot(device))
            {
                throw new BadRequestException($"Device \"{name}\": the root disk of a running instance cannot be changed (only its size): stop it first");
            }
        }
        // The new devices' host checks first: a refused one changes nothing.
        foreach (var name in added)
        {
            await DeviceTypes.Of(updated.Devices[name]).CheckAsync(ContextOf(updated, name, updated.Devices[name]), ct);
        }
        var driver = DriverOf(old);
        var snapshot = new Dictionary<string, string>(updated.Record.Config);
        foreach (var name in removed)
        {
            var device = old.Devices[name];
            var type = DeviceTypes.Of(device);
            if (device.GetValueOrDefault("type") == "nic" && old.Record.Config.GetValueOrDefault($"volatile.{name}.host_name") is { Length: > 0 } hostName)
            {
                await driver.DetachNicAsync(SpecOf(old), name, hostName, ct); // refused: nothing changed yet
            }
            if (type.Targets(device) is { Count: > 0 } targets)
            {
                await driver.DetachDeviceAsync(SpecOf(old), name, targets, ct); // unmounted inside first: its host side goes next
            }
            await type.TeardownAsync(ContextOf(old, name, device), ct);
            revert.Add(() => PlugAsync(old, name, driver, CancellationToken.None));
            if (!after.ContainsKey(name))
            {
                // Gone from the config: so are its volatile keys (a changed device keeps its generated hwaddr).
                var prefix = $"volatile.{name}.";
                Mirror(updated, updated.Record.Config.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(k => k, _ => ""));
            }
            else
            {
                Mirror(updated, new Dictionary<string, string> { [$"volatile.{name}.host_name"] = "" });
            }
        }
        foreach (var name in added)
        {
            await PlugAsync(updated, name, driver, ct);
            var device = updated.Devices[name];
            revert.Add(async () =>
            {
                if (DeviceTypes.Of(device).Targets(device) is { Count: > 0 } targets)
                {
                    await driver.DetachDeviceAsync(SpecOf(updated), name, targets, CancellationToken.None);
                }
                await DeviceTypes.Of(device).TeardownAsync(ContextOf(updated, name, device), CancellationToken.None);
            });
        }
        // The optional unix devices' watches follow the new device set (the old one's again if the update is undone).
        WatchUnixDevices(updated);
        revert.Add(() => WatchUnixDevices(old));
        foreach (var (k, v) in updated.Record.Config)
        {
            if (snapshot.GetValueOrDefault(k) != v)
            {
                changed[k] = v;
            }
        }
        foreach (var k in snapshot.Keys.Where(k => !updated.Record.Config.ContainsKey(k)))
        {
            changed[k] = "";
        }
        return changed;
    }

    /// <summary>One device into the running instance: setup, the driver's attach of its nics, the post-start hook; undone when a step fails.</summary>
    private async Task PlugAsync(Expanded e, string name, IInstanceDriver driver, CancellationToken ct)
    {
        var device = e.Devices[name];
        var type = DeviceTypes.Of(device);
        await using var revert = new Reverter();
        var setup = await type.SetupAsync(ContextOf(e, name, device), ct);
        revert.Add(async () => await type.TeardownAsync(ContextOf(e, name, device), CancellationToken.None));
        Mirror(e, setup.Volatile.ToDictionary(kv => $"volatile.{name}.{kv.Key}", kv => kv.Value));
        var spec = SpecOf(e);
        foreach (var nic in setup.Nics)
        {
            await driver.AttachNicAsync(spec, nic, ct);
        }
        if (setup.Mounts.Count + setup.Nodes.Count > 0)
        {
            try
            {
                await driver.AttachDeviceAsync(spec, name, setup.Mounts, setup.Nodes, ct);
            }
            finally
            {
                ReleasePins(e.Record.Name);
            }
            revert.Add(() => driver.DetachDeviceAsync(spec, name, type.Targets(device), CancellationToken.None));
        }
        var netns = type.RunsAfterStart ? await driver.NetworkNamespaceAsync(spec, ct) : null;
        var started = await type.StartedAsync(ContextOf(e, name, device), netns, ct);
        Mirror(e, started.ToDictionary(kv => $"volatile.{name}.{kv.Key}", kv => kv.Value));
        revert.Success();
    }

    /// <summary>Volatile keys into an expansion and its record, in memory only ("" removes).</summary>
    private static void Mirror(Expanded e, IReadOnlyDictionary<string, string> keys)
    {
        foreach (var (k, v) in keys)
        {
            if (v.Length == 0)
            {
                e.Record.Config.Remove(k);
                e.Config.Remove(k);
            }
            else
            {
                e.Record.Config[k] = v;
                e.Config[k] = v;
            }
        }
    }

    private static bool SameDevice(Dictionary<string, string> a, Dictionary<string, string> b) =>
        a.Count == b.Count && !a.Except(b).Any();
}
