using Hyperlxd.Core;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Networks;
using Hyperlxd.Storage;

namespace Hyperlxd.Instances;

/// <summary>
/// The devices' lifecycle around the driver (<see cref="Device"/>): checks when the config is written,
/// setup before every start (what the driver mounts, the nics it moves in), the post-start hook once it
/// runs (proxies), teardown after every stop or crash, and their <c>volatile.&lt;device&gt;.*</c> keys.
/// Also the driver's declared features, checked before a request reaches a driver.
/// </summary>
public sealed partial class InstanceManager
{
    /// <summary>What devices may use on the host: the pools' custom volumes, the networks, the proxy forwarders.</summary>
    private sealed class DeviceHost(InstanceManager manager, INetworkHost networks, IProxyForwarders forwarders) : IDeviceHost
    {
        public Task<string> HostPathAsync(DeviceContext device, string source, CancellationToken ct) => manager.HostPathAsync(device, source, ct);

        public Task<string> AttachVolumeAsync(DeviceContext device, string pool, string volume, CancellationToken ct) =>
            manager.AttachVolumeAsync(device, pool, volume, ct);

        public (char Kind, uint Major, uint Minor)? DeviceNumbers(string path) => Hyperlxd.Interop.Linux.Syscalls.DeviceNumbers(path);

        public INetworkHost Networks => networks;

        public IProxyForwarders Forwarders => forwarders;
    }

    private DeviceHost? _deviceHost;

    private IDeviceHost Host => _deviceHost ??= new DeviceHost(this, _networks, forwarders);

    /// <summary>The instance's driver, when it offers <paramref name="feature"/> (else a 400 naming it).</summary>
    private IInstanceDriver RequireFeature(Expanded e, DriverFeatures feature)
    {
        var driver = DriverOf(e);
        driver.Require(feature);
        return driver;
    }

    private DeviceContext ContextOf(Expanded e, string name, Dictionary<string, string> device)
    {
        var prefix = $"volatile.{name}.";
        var keys = e.Config.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal) && kv.Value.Length > 0)
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        return new DeviceContext(e.Record.Name, e.Type, name, device, keys, Host) { Devices = e.Devices, InstanceConfig = e.Config };
    }

    /// <summary>Records a device's volatile keys (given without the <c>volatile.&lt;device&gt;.</c> prefix).</summary>
    private Task RecordDeviceAsync(Expanded e, string name, IReadOnlyDictionary<string, string> keys, CancellationToken ct) =>
        RecordAsync(e, Changed(e, keys.ToDictionary(kv => $"volatile.{name}.{kv.Key}", kv => kv.Value)), ct);

    /// <summary>Every device's host check (a nic's network and addresses), before a config is written.</summary>
    private async Task CheckDevicesAsync(Expanded e, CancellationToken ct)
    {
        foreach (var (name, device) in e.Devices.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            await DeviceTypes.Of(device).CheckAsync(ContextOf(e, name, device), ct);
        }
    }

    /// <summary>
    /// Every device's setup, in name order; the spec to start with carries what they produced. A device
    /// that fails tears down the ones set up before it.
    /// </summary>
    private async Task<InstanceSpec> SetupDevicesAsync(Expanded e, CancellationToken ct)
    {
        var mounts = new List<DeviceMount>();
        var nics = new List<NicPlan>();
        var nodes = new List<DeviceNode>();
        await using var revert = new Reverter();
        foreach (var (name, device) in e.Devices.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            var type = DeviceTypes.Of(device);
            var setup = await type.SetupAsync(ContextOf(e, name, device), ct);
            revert.Add(async () => await type.TeardownAsync(ContextOf(e, name, device), CancellationToken.None));
            await RecordDeviceAsync(e, name, setup.Volatile, ct);
            mounts.AddRange(setup.Mounts);
            nics.AddRange(setup.Nics);
            nodes.AddRange(setup.Nodes);
        }
        revert.Success();
        return SpecOf(e) with { Mounts = mounts, Nics = nics, Nodes = nodes };
    }

    /// <summary>
    /// The driver's start with what the devices' setup produced, then the devices' post-start hook. A
    /// failure in either stops the instance again and tears the devices down.
    /// </summary>
    private async Task StartWithDevicesAsync(Expanded e, CancellationToken ct)
    {
        try
        {
            var spec = await SetupDevicesAsync(e, ct);
            await using var revert = new Reverter();
            revert.Add(() => TeardownDevicesAsync(e, CancellationToken.None));
            var driver = DriverOf(e);
            await driver.StartAsync(spec, ct);
            revert.Add(async () =>
            {
                await driver.StopAsync(spec, force: true, TimeSpan.Zero, CancellationToken.None);
                await driver.CleanupAsync(spec, CancellationToken.None);
            });
            await StartedDevicesAsync(e, spec, ct);
            revert.Success();
        }
        finally
        {
            ReleasePins(e.Record.Name); // staged disk sources: the container holds its own mounts now (or never will)
        }
    }

    /// <summary>Every device's post-start hook with the running instance's network namespace (also what re-adopts proxies at daemon start).</summary>
    private async Task StartedDevicesAsync(Expanded e, InstanceSpec spec, CancellationToken ct)
    {
        var devices = e.Devices.Where(d => DeviceTypes.Of(d.Value).RunsAfterStart).OrderBy(d => d.Key, StringComparer.Ordinal).ToList();
        if (devices.Count == 0)
        {
            return;
        }
        var netns = await DriverOf(e).NetworkNamespaceAsync(spec, ct);
        foreach (var (name, device) in devices)
        {
            await RecordDeviceAsync(e, name, await DeviceTypes.Of(device).StartedAsync(ContextOf(e, name, device), netns, ct), ct);
        }
    }

    /// <summary>Every device's teardown (reverse name order): after a stop, an end by itself, or a crash seen at start-up. Safe to repeat.</summary>
    private async Task TeardownDevicesAsync(Expanded e, CancellationToken ct)
    {
        foreach (var (name, device) in e.Devices.OrderByDescending(d => d.Key, StringComparer.Ordinal))
        {
            await RecordDeviceAsync(e, name, await DeviceTypes.Of(device).TeardownAsync(ContextOf(e, name, device), ct), ct);
        }
    }

    /// <summary>The driver's cleanup of a stopped or crashed instance, then its devices'.</summary>
    private async Task CleanupAsync(Expanded e, CancellationToken ct)
    {
        UnwatchUnixDevices(e.Record.Name);
        await DriverOf(e).CleanupAsync(SpecOf(e), ct);
        await TeardownDevicesAsync(e, ct);
    }
}
