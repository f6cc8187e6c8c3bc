using Hyperlxd.Containers.Interop;

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

    /// <summary>Gives the groups to the container's root (host ids <paramref name="uid"/>/<paramref name="gid"/>).</summary>
    public static void Delegate(IEnumerable<string> dirs, uint uid, uint gid)
    {
        foreach (var dir in dirs)
        {
            Syscalls.Check(Syscalls.Lchown(dir, uid, gid), "Failed delegating cgroup " + dir);
            foreach (var f in DelegatedFiles)
            {
                var file = Path.Combine(dir, f);
                if (File.Exists(file))
                {
                    Syscalls.Check(Syscalls.Lchown(file, uid, gid), "Failed delegating " + file);
                }
            }
        }
    }
}
