using System.Text;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Containers;

/// <summary>The hyperlxd-monitor spec file of a container, from its expanded config (see native-shims/README.md).</summary>
internal static class SpecWriter
{
    /// <summary>LXD drops these for every container; privileged ones lose a few more (LXD's lxc.cap.drop).</summary>
    private static readonly string[] CapDrop = { "sys_time", "sys_module", "sys_rawio", "mac_admin", "mac_override" };
    private static readonly string[] PrivilegedCapDrop = { "sys_boot" };

    /// <param name="idmapRootfs">The root is unshifted: mount it idmapped to the container's user namespace.</param>
    /// <param name="cgroupfs">The container's groups to show under its /sys/fs/cgroup (host directory, name there).</param>
    /// <param name="deviceAllow">Device rules the monitor enforces with an eBPF program (cgroup2).</param>
    public static string Build(InstanceSpec spec, IdMap? map, IReadOnlyList<string> cgroups, IEnumerable<(string Dir, string Name)> cgroupfs,
        bool idmapRootfs = false, IEnumerable<string>? deviceAllow = null)
    {
        var sb = new StringBuilder();
        sb.Append("rootfs ").Append(RootFs(spec)).Append('\n');
        if (idmapRootfs && map is not null)
        {
            sb.Append("rootfs-idmap yes\n");
        }
        sb.Append("hostname ").Append(spec.Name).Append('\n');
        if (spec.Config.GetValueOrDefault("security.nesting") is "true" or "1" or "yes" or "on")
        {
            // LXD's security.nesting: proc and sys whole and writable, so nested containers can mount their own.
            sb.Append("nesting yes\n");
        }
        if (map is not null)
        {
            foreach (var (kind, uid) in new[] { ("uidmap", true), ("gidmap", false) })
            {
                foreach (var (inside, outside, count) in map.Lines(uid))
                {
                    sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"{kind} {inside} {outside} {count}\n");
                }
            }
        }
        foreach (var cg in cgroups)
        {
            sb.Append("cgroup ").Append(cg).Append('\n');
        }
        foreach (var (dir, name) in cgroupfs)
        {
            sb.Append("cgroupfs ").Append(dir).Append(' ').Append(name).Append('\n');
        }
        foreach (var rule in deviceAllow ?? [])
        {
            sb.Append("device-allow ").Append(rule).Append('\n');
        }
        foreach (var cap in map is null ? CapDrop.Concat(PrivilegedCapDrop) : CapDrop)
        {
            sb.Append("cap-drop ").Append(cap).Append('\n');
        }
        sb.Append("seccomp default\n");
        sb.Append("env container=lxc\n");
        foreach (var (k, v) in Environment(spec.Config))
        {
            sb.Append("env ").Append(k).Append('=').Append(v).Append('\n');
        }
        sb.Append("netns new\n");
        foreach (var (name, dev) in spec.Devices.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            if (dev.GetValueOrDefault("type") != "disk" || dev.GetValueOrDefault("path") is not { Length: > 0 } path || path == "/"
                || dev.GetValueOrDefault("source") is not { Length: > 0 } source)
            {
                continue;
            }
            if (source.Contains(' ') || path.Contains(' ') || source.Contains('\n') || path.Contains('\n'))
            {
                throw new BadRequestException($"Invalid device \"{name}\": paths with spaces are not supported");
            }
            sb.Append($"bind {source} {path} {(dev.GetValueOrDefault("readonly") == "true" ? "ro" : "rw")}\n");
        }
        return sb.ToString();
    }

    public static string RootFs(InstanceSpec spec) => Path.Combine(spec.RootPath, "rootfs");

    public static IEnumerable<KeyValuePair<string, string>> Environment(IReadOnlyDictionary<string, string> config) =>
        config.Where(kv => kv.Key.StartsWith("environment.", StringComparison.Ordinal))
              .Select(kv => KeyValuePair.Create(kv.Key["environment.".Length..], kv.Value))
              .OrderBy(kv => kv.Key, StringComparer.Ordinal);
}
