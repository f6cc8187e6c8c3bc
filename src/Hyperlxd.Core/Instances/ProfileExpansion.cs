using Hyperlxd.Api;

namespace Hyperlxd.Core.Instances;

/// <summary>An instance's config and devices with its profiles applied.</summary>
public sealed record ExpandedConfig(Dictionary<string, string> Config, Dictionary<string, Dictionary<string, string>> Devices);

/// <summary>
/// LXD's profile expansion: the profiles in the order the instance lists them, each overriding the
/// keys and whole devices of the ones before, then the instance's own keys and devices on top.
/// A profile that does not exist (any more) contributes nothing.
/// </summary>
public static class ProfileExpansion
{
    public static ExpandedConfig Expand(
        IEnumerable<string> profileNames,
        IReadOnlyDictionary<string, Profile> profiles,
        IReadOnlyDictionary<string, string> config,
        IReadOnlyDictionary<string, Dictionary<string, string>> devices)
    {
        var expandedConfig = new Dictionary<string, string>();
        var expandedDevices = new Dictionary<string, Dictionary<string, string>>();
        foreach (var name in profileNames)
        {
            if (!profiles.TryGetValue(name, out var p))
            {
                continue;
            }
            foreach (var (k, v) in p.Config)
            {
                expandedConfig[k] = v;
            }
            foreach (var (k, v) in p.Devices)
            {
                expandedDevices[k] = new Dictionary<string, string>(v);
            }
        }
        foreach (var (k, v) in config)
        {
            expandedConfig[k] = v;
        }
        foreach (var (k, v) in devices)
        {
            expandedDevices[k] = new Dictionary<string, string>(v);
        }
        return new ExpandedConfig(expandedConfig, expandedDevices);
    }
}

/// <summary>The root disk: the disk device mounted at "/", which names the pool of the root volume.</summary>
public static class RootDisk
{
    public static (string Device, string Pool) Find(IReadOnlyDictionary<string, Dictionary<string, string>> devices)
    {
        foreach (var (name, d) in devices)
        {
            if (d.GetValueOrDefault("type") == "disk" && d.GetValueOrDefault("path") == "/" && d.TryGetValue("pool", out var pool))
            {
                return (name, pool);
            }
        }
        throw new BadRequestException("No root device could be found: add a disk device with path \"/\" and a \"pool\" (e.g. to the default profile)");
    }

    /// <summary>The root disk's <c>size</c> (LXD's root quota), "" when it has none.</summary>
    public static string Size(IReadOnlyDictionary<string, Dictionary<string, string>> devices) =>
        devices[Find(devices).Device].GetValueOrDefault("size", "");
}
