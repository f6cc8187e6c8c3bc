using Hyperlxd.Core.Config;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Core.Devices;

/// <summary>
/// LXD's <c>disk</c>: the root disk (path "/", on a pool: the manager's root volume), a custom volume
/// of a pool, or a host path. Setup hands the driver one bind mount per non-root disk.
/// </summary>
public sealed class DiskDevice() : Device("disk", KeyList, "path")
{
    private static readonly DeviceKey[] KeyList =
        new[] { "path", "source", "pool", "readonly", "required", "size", "size.state", "recursive", "raw.mount.options", "limits.read", "limits.write", "limits.max" }
            .Select(k => new DeviceKey(k))
            .Concat(new[] { "propagation", "shift" }.Select(k => new DeviceKey(k, InstanceType.Container)))
            .Concat(new[] { "boot.priority", "io.cache" }.Select(k => new DeviceKey(k, InstanceType.VirtualMachine)))
            .ToArray();

    private static readonly string[] SizeKeys = { "size", "size.state" };

    protected override void Check(string name, IReadOnlyDictionary<string, string> device)
    {
        if (device["path"] == "/" ? !device.ContainsKey("pool") : !device.ContainsKey("source") && !device.ContainsKey("pool"))
        {
            Problem(name, device["path"] == "/" ? "the root disk needs a \"pool\"" : "needs a \"source\"");
        }
        // path (inside the instance) and a host source (not a pool volume's name) are absolute and free
        // of "..": a relative or climbing path would only fail at start, or mean something else.
        foreach (var key in device.ContainsKey("pool") ? new[] { "path" } : new[] { "path", "source" })
        {
            if (device.TryGetValue(key, out var p) && p.Length > 0 && (p[0] != '/' || p.Split('/').Contains("..")))
            {
                BadValue(name, key, $"\"{Validators.Printable(p)}\" must be an absolute path without \"..\" components");
            }
        }
        CheckBool(name, device, "readonly");
        foreach (var key in SizeKeys)
        {
            // Empty is unset, as LXD's optional validators take it (lxc config device unset sends "").
            if (device.TryGetValue(key, out var size) && size.Length > 0 && Validators.Size(size) is { } badSize)
            {
                BadValue(name, key, badSize);
            }
        }
    }

    /// <summary>The root disk: mounted by the driver from the instance's root volume, not here.</summary>
    public static bool IsRoot(IReadOnlyDictionary<string, string> device) => device.GetValueOrDefault("path") == "/";

    public override Task<DeviceSetup> SetupAsync(DeviceContext device, CancellationToken ct)
    {
        var d = device.Config;
        if (IsRoot(d) || d.GetValueOrDefault("path") is not { Length: > 0 } path || d.GetValueOrDefault("source") is not { Length: > 0 } source)
        {
            return Task.FromResult(DeviceSetup.Nothing);
        }
        var host = d.GetValueOrDefault("pool") is { Length: > 0 } pool ? device.Host.VolumePath(pool, source) : source;
        var readOnly = d.GetValueOrDefault("readonly") is "true" or "1" or "yes" or "on";
        return Task.FromResult(new DeviceSetup([new DeviceMount(device.Name, host, path, readOnly)], new Dictionary<string, string>()));
    }
}
