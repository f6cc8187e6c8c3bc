namespace Hyperlxd.Containers.Cgroups;

/// <summary>Resource usage read from a container's cgroups.</summary>
internal sealed record CgroupStats(long CpuNanoseconds, long MemoryBytes, long MemoryPeakBytes, int Processes);

/// <summary>
/// One container's cgroups, v1 or v2, behind one interface. Groups live only under
/// <c>hyperlxd/&lt;name&gt;</c> in each hierarchy: other users of the host own the rest.
/// </summary>
internal interface ICgroupBackend
{
    string Name { get; }

    /// <summary>The directories the monitor joins (the spec's <c>cgroup</c> lines).</summary>
    IReadOnlyList<string> Paths(string name);

    /// <summary>Creates the groups and applies limits (and the v1 device allow-list) before init joins.</summary>
    void Create(string name, CgroupLimits limits);

    /// <summary>
    /// The device allow-list rules for the monitor's spec (<c>device-allow</c>): cgroup2 has no devices
    /// controller, the monitor attaches an eBPF program instead. Empty when Create wrote them (v1).
    /// </summary>
    IEnumerable<string> MonitorDeviceRules(CgroupLimits limits);

    /// <summary>
    /// Allows (or denies again) one device rule ("c 10:200 rwm") in an existing group: v1's devices.allow and
    /// devices.deny. False when the backend cannot change its allow-list live (cgroup2: the device program is
    /// fixed at start, its rules go to <see cref="MonitorDeviceRules"/>' list instead).
    /// </summary>
    bool AllowDevice(string name, string rule, bool allow);

    /// <summary>Applies limits to existing groups (live change on a running container).</summary>
    void Apply(string name, CgroupLimits limits);

    /// <summary>
    /// Refuses limits whose controller this host cannot give a container (400 naming the key and the
    /// controller), without touching anything: for config changes of a stopped container.
    /// </summary>
    void CheckLimits(CgroupLimits limits);

    /// <summary>Freezes or thaws every process of the group; returns once the kernel says it is done.</summary>
    void Freeze(string name, bool frozen);

    /// <summary>SIGKILL to every process in the group, frozen ones included (cgroup.kill); false when the kernel has no such file (v1).</summary>
    bool Kill(string name);

    bool IsFrozen(string name);

    CgroupStats Stats(string name);

    /// <summary>The directory holding <paramref name="controller"/>'s files for the container (v2: its one group).</summary>
    string ControllerDir(string name, string controller);

    /// <summary>Removes the groups (after their processes are gone). True when nothing is left.</summary>
    Task<bool> RemoveAsync(string name, CancellationToken ct);

    /// <summary>Names of the containers that have a group under <c>hyperlxd/</c>.</summary>
    IReadOnlyCollection<string> List();

    /// <summary>
    /// Removes this daemon's parent group where it is empty (no container group under it); one still
    /// holding containers stays. Made again by the next <see cref="Create"/>.
    /// </summary>
    void RemoveParent();
}

/// <summary>Chooses the backend: v2 when the unified hierarchy has the resource controllers, else v1 (or as forced).</summary>
internal static class CgroupDetector
{
    private static readonly string[] V2Needs = { "memory", "pids", "cpu" };

    /// <summary>The backend, and why it cannot run containers here (null when it can).</summary>
    public static (ICgroupBackend Backend, string? Unavailable) Select(string root, string parent, CgroupBackendKind kind)
    {
        // Pure v2: the root is the unified hierarchy. Hybrid: it is mounted at root/unified.
        var unified = new[] { root, Path.Combine(root, "unified") }.FirstOrDefault(d => File.Exists(Path.Combine(d, "cgroup.controllers")));
        var v1 = unified != root && Directory.Exists(Path.Combine(root, "memory"));
        var v1Backend = () => new CgroupV1Backend(root, unified, parent);
        switch (kind)
        {
            case CgroupBackendKind.V2:
                return unified is null
                    ? (new CgroupV2Backend(Path.Combine(root, "unified"), parent), $"the cgroup2 backend is forced but no cgroup2 hierarchy is mounted at {root} or {root}/unified")
                    : (new CgroupV2Backend(unified, parent), null);
            case CgroupBackendKind.V1:
                return (v1Backend(), v1 ? null : $"the cgroup1 backend is forced but no cgroup1 memory hierarchy is mounted at {root}/memory");
            default:
                if (unified is not null && V2Needs.All(Controllers(unified).Contains))
                {
                    return (new CgroupV2Backend(unified, parent), null);
                }
                return (v1Backend(), v1 ? null : $"no usable cgroups at {root} (neither cgroup1 controllers nor a cgroup2 hierarchy with {string.Join(", ", V2Needs)})");
        }
    }

    /// <summary>The words of a cgroup2 list file (cgroup.controllers, cgroup.subtree_control); empty when absent.</summary>
    internal static HashSet<string> Words(string file)
    {
        try
        {
            return File.ReadAllText(file).Split(' ', '\n', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        }
        catch (IOException)
        {
            return new HashSet<string>(StringComparer.Ordinal);
        }
    }

    internal static HashSet<string> Controllers(string dir) => Words(Path.Combine(dir, "cgroup.controllers"));

    internal static void Write(string file, string value)
    {
        File.WriteAllText(file, value);
    }

    internal static long ReadLong(string file)
    {
        try
        {
            var text = File.ReadAllText(file).Trim();
            return text == "max" ? long.MaxValue : long.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>
    /// rmdir with retries: namespace teardown is asynchronous, the last task leaves late. Sub-groups
    /// first, deepest first: a delegated group may hold ones the container made.
    /// </summary>
    internal static async Task<bool> RemoveDirAsync(string dir, CancellationToken ct)
    {
        for (var i = 0; i < 100; i++)
        {
            if (!Directory.Exists(dir))
            {
                return true;
            }
            try
            {
                foreach (var sub in Directory.EnumerateDirectories(dir))
                {
                    if (!await RemoveDirAsync(sub, ct))
                    {
                        return false;
                    }
                }
                Directory.Delete(dir);
                return true;
            }
            catch (IOException) when (i < 99)
            {
                await Task.Delay(20, ct);
            }
            catch (IOException)
            {
                return false;
            }
        }
        return false;
    }
}
