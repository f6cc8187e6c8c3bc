using Hyperlxd.Core.Config;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Core.Devices;

/// <summary>
/// LXD's <c>disk</c>: the root disk (path "/", on a pool: the manager's root volume), a custom volume
/// of a pool, or a host path. Setup hands the driver one bind mount per non-root disk; a container's
/// non-root disks are hot-pluggable (the root disk is not, except its size, which the manager applies).
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

    public override bool HotPluggable => true;

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
        if (device.ContainsKey("pool") && device["path"] != "/" && Value(device, "source") is { } volume
            && (volume.StartsWith('/') || volume.Contains("..") || (volume.StartsWith("custom/", StringComparison.Ordinal) ? volume["custom/".Length..] : volume).Contains('/')))
        {
            // LXD's wording: with a pool, source names one of its custom volumes ("custom/NAME" at most: a
            // further '/' would name a volume key of another project).
            BadValue(name, "source", $"\"{Validators.Printable(volume)}\": when the \"pool\" property is set \"source\" must specify the name of a custom volume, not a path");
        }
        CheckBool(name, device, "readonly");
        CheckBool(name, device, "required");
        foreach (var key in SizeKeys)
        {
            // Empty is unset, as LXD's optional validators take it (lxc config device unset sends "").
            if (device.TryGetValue(key, out var size) && size.Length > 0 && Validators.Size(size) is { } badSize)
            {
                BadValue(name, key, badSize);
            }
        }
    }

    protected override void Check(string name, IReadOnlyDictionary<string, string> device, InstanceType? instanceType)
    {
        Check(name, device);
        if (instanceType == InstanceType.Container && device["path"].Length == 0)
        {
            // LXD: only a VM's disk may go without a path (lxc storage volume attach with 3 arguments).
            Problem(name, "needs a \"path\" inside a container");
        }
    }

    /// <summary>
    /// LXD's CheckRestrictedDevicesDiskPaths: the prefix of <c>restricted.devices.disk.paths</c> (<paramref name="list"/>)
    /// that the cleaned <paramref name="source"/> lies under (whole path components), or null.
    /// </summary>
    public static string? RestrictedParent(string list, string source) =>
        list.Split(',').FirstOrDefault(prefix => IsUnder(CleanPath(source), CleanPath(prefix)));

    /// <summary>Whether <paramref name="path"/> is <paramref name="parent"/> or below it (whole components: "/a-b" is not under "/a").</summary>
    public static bool IsUnder(string path, string parent) =>
        (path.TrimEnd('/') + "/").StartsWith(parent.TrimEnd('/') + "/", StringComparison.Ordinal);

    /// <summary>Go's filepath.Clean for an absolute path ("." and ".." resolved lexically, no symlinks followed).</summary>
    public static string CleanPath(string path)
    {
        var parts = new List<string>();
        foreach (var part in path.Trim().Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == "..")
            {
                if (parts.Count > 0)
                {
                    parts.RemoveAt(parts.Count - 1);
                }
            }
            else if (part != ".")
            {
                parts.Add(part);
            }
        }
        return "/" + string.Join('/', parts);
    }

    /// <summary>The root disk: mounted by the driver from the instance's root volume, not here.</summary>
    public static bool IsRoot(IReadOnlyDictionary<string, string> device) => device.GetValueOrDefault("path") == "/";

    /// <summary>The custom volume a disk device names on its pool ("custom/NAME" as LXD also takes it), or null.</summary>
    public static string? VolumeOf(IReadOnlyDictionary<string, string> device) =>
        device.GetValueOrDefault("type") != "disk" || IsRoot(device) || Value(device, "pool") is null || Value(device, "source") is not { } source
            ? null
            : source.StartsWith("custom/", StringComparison.Ordinal) ? source["custom/".Length..] : source;

    public override IReadOnlyList<string> Targets(IReadOnlyDictionary<string, string> config) =>
        IsRoot(config) || Value(config, "path") is not { } path ? [] : [path];

    public override async Task<DeviceSetup> SetupAsync(DeviceContext device, CancellationToken ct)
    {
        var d = device.Config;
        if (IsRoot(d) || Value(d, "path") is not { } path || Value(d, "source") is not { } source)
        {
            return DeviceSetup.Nothing;
        }
        string host;
        if (Value(d, "pool") is { } pool)
        {
            host = await device.Host.AttachVolumeAsync(device, pool, VolumeOf(d)!, ct);
        }
        else if (!File.Exists(source) && !Directory.Exists(source))
        {
            // LXD's required (default true): a missing host path fails the start, unless the disk is optional.
            if (!LxdBool.Get(d, "required", true))
            {
                return DeviceSetup.Nothing;
            }
            throw new BadRequestException($"Device \"{device.Name}\": missing source path \"{source}\" for disk \"{device.Name}\"");
        }
        else
        {
            host = await device.Host.HostPathAsync(device, source, ct);
        }
        var readOnly = LxdBool.IsTrue(d.GetValueOrDefault("readonly"));
        return new DeviceSetup([new DeviceMount(device.Name, host, path, readOnly)], new Dictionary<string, string>());
    }
}
