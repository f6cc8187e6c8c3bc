
namespace Hyperlxd.Containers.Cgroups;

/// <summary>
/// What a container sees of its cgroups and may do with them, as LXD sets it up: its own group of
/// each hierarchy under its <c>/sys/fs/cgroup</c> (the monitor's <c>cgroupfs</c> spec lines), owned by
/// the container's root so that an init inside (systemd, a nested container manager) can make and
/// populate sub-groups. Only the directory and the files that move tasks or enable controllers are
/// handed over: the group's own limit files stay the host's, and the kernel keeps every sub-group
/// within its parent's limits.
/// </summary>
internal static class CgroupDelegation
{
    private static readonly string[] DelegatedFiles = { "cgroup.procs", "tasks", "cgroup.threads", "cgroup.subtree_control", "cgroup.clone_children" };

    /// <summary>(host directory, name under the container's /sys/fs/cgroup) per hierarchy; "." = the cgroup2 group is /sys/fs/cgroup itself.</summary>
    public static IEnumerable<(string Dir, string Name)> Mounts(ICgroupBackend backend, string cgroupRoot, string name)
    {
        foreach (var dir in backend.Paths(name))
        {
            if (backend.Name == "cgroup2")
            {
                yield return (dir, ".");
                continue;
            }
            var rel = Path.GetRelativePath(cgroupRoot, dir);
            yield return (dir, rel[..rel.IndexOf('/')]);
        }
    }

    /// <summary>
    /// Our parent group must be searchable by the containers' roots, which bind their own group from
    /// its host path; a parent made under a umask of 077 (or by an older version) would hide it.
    /// </summary>
    public static void MakeTraversable(string parent)
    {
        const UnixFileMode mode = (UnixFileMode)0b111_101_101; // 0755
        if (File.GetUnixFileMode(parent) != mode)
        {
            File.SetUnixFileMode(parent, mode);
        }
    }

    /// <summary>Gives the groups to the container's root (host ids <paramref name="uid"/>/<paramref name="gid"/>).</summary>
    public static void Delegate(IEnumerable<string> dirs, uint uid, uint gid)
    {
        foreach (var dir in dirs)
        {
            Syscalls.Lchown(dir, uid, gid);
            foreach (var f in DelegatedFiles)
            {
                var file = Path.Combine(dir, f);
                if (File.Exists(file))
                {
                    Syscalls.Lchown(file, uid, gid);
                }
            }
        }
    }
}
