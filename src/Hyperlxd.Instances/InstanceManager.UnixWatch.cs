using System.Collections.Concurrent;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Instances;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Instances;

/// <summary>
/// unix-char/unix-block devices with <c>required=false</c> follow their host node while the container runs,
/// as LXD 5.0.2's unix device Register does: the node appearing plugs the device in (node, cgroup
/// access), its removal unplugs it, other numbers re-plug it. Watches are set at each start, after a
/// config change of a running instance, and at daemon start for what kept running (the check then also
/// catches up with what changed meanwhile); they end with the run. Devices with both <c>major</c> and
/// <c>minor</c> do not depend on a host node and are not watched.
/// </summary>
public sealed partial class InstanceManager
{
    /// <summary>Watches by "instance\0device".</summary>
    private readonly ConcurrentDictionary<string, UnixSourceWatch> _unixWatches = new();

    private static string WatchKey(string instance, string device) => instance + "\0" + device;

    private static bool FollowsSource(IReadOnlyDictionary<string, string> device) =>
        device.GetValueOrDefault("type") is "unix-char" or "unix-block"
        && !LxdBool.Get(device, "required", true)
        && !(device.GetValueOrDefault("major") is { Length: > 0 } && device.GetValueOrDefault("minor") is { Length: > 0 });

    private static string SourceOf(IReadOnlyDictionary<string, string> device) =>
        device.GetValueOrDefault("source") is { Length: > 0 } s ? s : device.GetValueOrDefault("path")!;

    /// <summary>(Re)sets the watches of a running container's optional unix devices to its current devices.</summary>
    private void WatchUnixDevices(Expanded e)
    {
        UnwatchUnixDevices(e.Record.Name);
        if (e.Type != InstanceType.Container)
        {
            return;
        }
        var instance = e.Record.Name;
        foreach (var (name, device) in e.Devices.Where(d => FollowsSource(d.Value)))
        {
            var watch = new UnixSourceWatch(SourceOf(device), () => FollowUnixSourceAsync(instance, name));
            _unixWatches[WatchKey(instance, name)] = watch;
            watch.Start();
        }
    }

    private void UnwatchUnixDevices(string instance)
    {
        foreach (var key in _unixWatches.Keys.Where(k => k.StartsWith(instance + "\0", StringComparison.Ordinal)))
        {
            if (_unixWatches.TryRemove(key, out var watch))
            {
                watch.Dispose();
            }
        }
    }

    /// <summary>Brings device <paramref name="name"/> of the running instance in line with its host node (present: plugged with its numbers; absent: unplugged).</summary>
    private async Task FollowUnixSourceAsync(string instance, string name)
    {
        try
        {
            using var _ = await _locks.AcquireAsync(instance, CancellationToken.None);
            if (!_unixWatches.ContainsKey(WatchKey(instance, name)))
            {
                return; // unwatched while this waited: stopped or changed
            }
            var e = await LoadAsync(instance, CancellationToken.None);
            if (!e.Devices.TryGetValue(name, out var device) || !FollowsSource(device))
            {
                return;
            }
            var driver = DriverOf(e);
            var spec = SpecOf(e);
            if (await driver.GetStatusAsync(spec, CancellationToken.None) == InstanceStatus.Stopped)
            {
                return;
            }
            var type = DeviceTypes.Of(device);
            var wanted = (await type.SetupAsync(ContextOf(e, name, device), CancellationToken.None)).Nodes;
            var have = driver.PluggedNode(spec, name);
            if (wanted.Count > 0 && have == (wanted[0].Kind, wanted[0].Major, wanted[0].Minor))
            {
                return;
            }
            if (have is not null)
            {
                await driver.DetachDeviceAsync(spec, name, type.Targets(device), CancellationToken.None);
                logger.LogInformation("Instance {Name}: device {Device} removed ({Source} went away)", instance, name, SourceOf(device));
            }
            if (wanted.Count > 0)
            {
                await driver.AttachDeviceAsync(spec, name, [], wanted, CancellationToken.None);
                logger.LogInformation("Instance {Name}: device {Device} added ({Source} appeared as {Kind} {Major}:{Minor})",
                    instance, name, SourceOf(device), wanted[0].Kind, wanted[0].Major, wanted[0].Minor);
            }
        }
        catch (NotFoundException)
        {
            // deleted meanwhile
        }
        catch (Exception ex) when (ex is HyperlxdException or IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            logger.LogWarning("Instance {Name}: following the host node of device {Device} failed: {Error}", instance, name, ex.Message);
        }
    }
}
