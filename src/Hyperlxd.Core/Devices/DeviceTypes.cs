namespace Hyperlxd.Core.Config;

/// <summary>
/// The device schema both drivers share: which device types exist, which keys each accepts and
/// which it requires (LXD's device documentation). Profiles and instances validate through here.
/// </summary>
public static class Devices
{
    private sealed record DeviceType(string[] Keys, string[] Required, Func<IReadOnlyDictionary<string, string>, string?>? Extra = null);

    private static readonly Dictionary<string, DeviceType> Types = new()
    {
        ["none"] = new(Array.Empty<string>(), Array.Empty<string>()),
        ["disk"] = new(
            new[] { "path", "source", "pool", "readonly", "required", "size", "size.state", "recursive", "propagation", "shift", "raw.mount.options", "limits.read", "limits.write", "limits.max", "boot.priority", "io.cache" },
            new[] { "path" },
            d => d["path"] == "/"
                ? d.ContainsKey("pool") ? null : "the root disk needs a \"pool\""
                : d.ContainsKey("source") || d.ContainsKey("pool") ? null : "needs a \"source\""),
        ["nic"] = new(
            new[] { "nictype", "network", "parent", "name", "hwaddr", "mtu", "host_name", "vlan", "ipv4.address", "ipv6.address", "ipv4.routes", "ipv6.routes", "security.mac_filtering", "security.ipv4_filtering", "security.ipv6_filtering", "limits.ingress", "limits.egress", "limits.max", "boot.priority", "queue.tx.length" },
            Array.Empty<string>(),
            d => d.ContainsKey("network") || d.ContainsKey("nictype") ? d.ContainsKey("network") && d.ContainsKey("nictype") ? "cannot have both \"network\" and \"nictype\"" : null : "needs a \"network\" or a \"nictype\""),
        ["proxy"] = new(
            new[] { "listen", "connect", "bind", "nat", "proxy_protocol", "security.uid", "security.gid", "uid", "gid", "mode" },
            new[] { "listen", "connect" }),
        ["unix-char"] = new(new[] { "source", "path", "major", "minor", "uid", "gid", "mode", "required" }, Array.Empty<string>(),
            d => d.ContainsKey("source") || d.ContainsKey("path") ? null : "needs a \"source\" or a \"path\""),
        ["unix-block"] = new(new[] { "source", "path", "major", "minor", "uid", "gid", "mode", "required" }, Array.Empty<string>(),
            d => d.ContainsKey("source") || d.ContainsKey("path") ? null : "needs a \"source\" or a \"path\""),
        ["unix-hotplug"] = new(new[] { "vendorid", "productid", "uid", "gid", "mode", "required" }, Array.Empty<string>()),
        ["tpm"] = new(new[] { "path", "pathrm" }, Array.Empty<string>()),
    };

    private static readonly string[] NicTypes = { "bridged", "macvlan", "p2p", "physical", "sriov", "ipvlan", "routed" };

    private static readonly string[] SizeKeys = { "size", "size.state" };

    /// <summary>A nic's host-side and container-side interface names.</summary>
    private static readonly string[] InterfaceKeys = { "parent", "host_name", "name" };

    /// <summary>
    /// A disk's <c>path</c> (inside the instance) and host <c>source</c> (unless it names a pool
    /// volume) are absolute and free of <c>..</c>: a relative or climbing path would only fail at
    /// start, or mean something other than what it says.
    /// </summary>
    private static (string Key, string Problem)? PathProblem(string type, IReadOnlyDictionary<string, string> device)
    {
        if (type != "disk")
        {
            return null;
        }
        foreach (var key in device.ContainsKey("pool") ? new[] { "path" } : new[] { "path", "source" })
        {
            if (device.TryGetValue(key, out var p) && p.Length > 0 && (p[0] != '/' || p.Split('/').Contains("..")))
            {
                return (key, $"\"{Validators.Printable(p)}\" must be an absolute path without \"..\" components");
            }
        }
        return null;
    }

    /// <summary>The kernel's dev_valid_name: 1 to 15 bytes (IFNAMSIZ - 1), not "." or "..", no '/', ':' or whitespace.</summary>
    public static bool IsInterfaceName(string name) =>
        name.Length is > 0 and < 16 && System.Text.Encoding.UTF8.GetByteCount(name) < 16 && name is not "." and not ".."
        && !name.Any(c => c is '/' or ':' || char.IsWhiteSpace(c) || char.IsControl(c));

    public static void Validate(IReadOnlyDictionary<string, Dictionary<string, string>> devices)
    {
        foreach (var (name, device) in devices)
        {
            if (string.IsNullOrEmpty(name) || name.Contains('/') || name.Any(char.IsWhiteSpace) || Validators.HasControl(name))
            {
                throw new BadRequestException($"Invalid device name \"{Validators.Printable(name)}\"");
            }
            foreach (var (key, value) in device ?? [])
            {
                if (Validators.KeyValueProblem(key, value) is { } kvProblem)
                {
                    throw new BadRequestException($"Device \"{name}\": invalid key \"{Validators.Printable(key)}\": {kvProblem}");
                }
            }
            if (device is null || !device.TryGetValue("type", out var type) || type.Length == 0)
            {
                throw new BadRequestException($"Device \"{name}\": missing \"type\"");
            }
            if (!Types.TryGetValue(type, out var schema))
            {
                throw new BadRequestException($"Device \"{name}\": unknown device type \"{type}\"");
            }
            foreach (var key in device.Keys)
            {
                if (key != "type" && !schema.Keys.Contains(key) && !key.StartsWith("user.", StringComparison.Ordinal))
                {
                    throw new BadRequestException($"Device \"{name}\": unknown key \"{key}\" for a {type} device");
                }
            }
            foreach (var key in schema.Required)
            {
                if (!device.ContainsKey(key))
                {
                    throw new BadRequestException($"Device \"{name}\": missing required key \"{key}\"");
                }
            }
            if (schema.Extra?.Invoke(device) is { } problem)
            {
                throw new BadRequestException($"Device \"{name}\": {type} device {problem}");
            }
            if (device.TryGetValue("nictype", out var nicType) && !NicTypes.Contains(nicType))
            {
                throw new BadRequestException($"Device \"{name}\": unknown nictype \"{nicType}\"");
            }
            if (PathProblem(type, device) is { } badPath)
            {
                throw new BadRequestException($"Device \"{name}\": invalid value for \"{badPath.Key}\": {badPath.Problem}");
            }
            foreach (var key in InterfaceKeys)
            {
                if (type == "nic" && device.TryGetValue(key, out var ifname) && ifname.Length > 0 && !IsInterfaceName(ifname))
                {
                    throw new BadRequestException($"Device \"{name}\": invalid value for \"{key}\": \"{Validators.Printable(ifname)}\" is not a valid interface name (1 to 15 characters, no '/', ':' or whitespace)");
                }
            }
            if (device.TryGetValue("readonly", out var ro) && Validators.Bool(ro) is { } bad)
            {
                throw new BadRequestException($"Device \"{name}\": \"readonly\" {bad}");
            }
            foreach (var key in SizeKeys)
            {
                // Empty is unset, as LXD's optional validators take it (lxc config device unset sends "").
                if (type == "disk" && device.TryGetValue(key, out var size) && size.Length > 0 && Validators.Size(size) is { } badSize)
                {
                    throw new BadRequestException($"Device \"{name}\": invalid value for \"{key}\": {badSize}");
                }
            }
        }
    }
}
