using System.Globalization;
using System.Text;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Config;

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
        // Every field goes through Field(): no value can end its line or become a directive.
        void Line(string key, params string[] fields)
        {
            sb.Append(key);
            foreach (var f in fields)
            {
                sb.Append(' ').Append(Field(f));
            }
            sb.Append('\n');
        }

        Line("rootfs", RootFs(spec));
        if (idmapRootfs && map is not null)
        {
            Line("rootfs-idmap", "yes");
        }
        // A project's instance is stored as "project_name" (ProjectKeys): LXD names the host by the instance.
        Line("hostname", ProjectKeys.InstanceName(spec.Name));
        if (LxdBool.IsTrue(spec.Config.GetValueOrDefault("security.nesting")))
        {
            // LXD's security.nesting: proc and sys whole and writable, so nested containers can mount their own.
            Line("nesting", "yes");
        }
        if (map is not null)
        {
            foreach (var (kind, uid) in new[] { ("uidmap", true), ("gidmap", false) })
            {
                foreach (var (inside, outside, count) in map.Lines(uid))
                {
                    Line(kind, inside.ToString(CultureInfo.InvariantCulture), outside.ToString(CultureInfo.InvariantCulture), count.ToString(CultureInfo.InvariantCulture));
                }
            }
        }
        foreach (var cg in cgroups)
        {
            Line("cgroup", cg);
        }
        foreach (var (dir, name) in cgroupfs)
        {
            Line("cgroupfs", dir, name);
        }
        foreach (var rule in deviceAllow ?? [])
        {
            // A fixed-syntax rule the daemon composes ("c 1:3 rwm"): the one line written as is.
            sb.Append("device-allow ").Append(rule).Append('\n');
        }
        foreach (var cap in map is null ? CapDrop.Concat(PrivilegedCapDrop) : CapDrop)
        {
            Line("cap-drop", cap);
        }
        Line("seccomp", "default");
        Line("env", "container=lxc");
        foreach (var (k, v) in Environment(spec.Config))
        {
            Line("env", k + "=" + v);
        }
        Line("netns", "new");
        // The monitor makes each nic's veth pair before GO: the host end here (on its bridge), the other born inside.
        foreach (var nic in spec.Nics)
        {
            Line("nic", nic.HostName, nic.Name, nic.HwAddr.Length > 0 ? nic.HwAddr : "-", nic.Mtu.ToString(CultureInfo.InvariantCulture),
                nic.Bridge.Length > 0 ? nic.Bridge : "-");
        }
        // The devices' setup produced these (disk devices today), in device-name order.
        foreach (var mount in spec.Mounts.OrderBy(m => m.Device, StringComparer.Ordinal))
        {
            Line("bind", mount.Source, mount.Target, mount.ReadOnly ? "ro" : "rw");
        }
        // unix-char/unix-block: the node the driver made on the host, bound onto its path inside.
        foreach (var node in spec.Nodes.OrderBy(n => n.Device, StringComparer.Ordinal))
        {
            Line("bind", ContainerDriver.NodePath(spec, node.Device), node.Target, "rw");
        }
        return sb.ToString();
    }

    /// <summary>
    /// One spec field, escaped as native-shims/README.md ("Container spec") says: backslash as <c>\\</c>,
    /// space and control characters as <c>\xHH</c>, everything else (UTF-8 included) as it is.
    /// </summary>
    public static string Field(string value)
    {
        if (value.Contains('\0'))
        {
            // Config validation refuses NUL; a spec field could not carry it anyway (C strings).
            throw new BadRequestException("A value written to the container spec contains a NUL character");
        }
        var sb = new StringBuilder(value.Length);
        foreach (var c in value)
        {
            if (c == '\\')
            {
                sb.Append(@"\\");
            }
            else if (c <= ' ' || c == '\x7f')
            {
                sb.Append(@"\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append(c);
            }
        }
        return sb.ToString();
    }

    public static string RootFs(InstanceSpec spec) => Path.Combine(spec.RootPath, "rootfs");

    public static IEnumerable<KeyValuePair<string, string>> Environment(IReadOnlyDictionary<string, string> config) =>
        config.Where(kv => kv.Key.StartsWith("environment.", StringComparison.Ordinal))
              .Select(kv => KeyValuePair.Create(kv.Key["environment.".Length..], kv.Value))
              .OrderBy(kv => kv.Key, StringComparer.Ordinal);
}
