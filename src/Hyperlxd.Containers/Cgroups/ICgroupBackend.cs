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

    /// <summary>Creates the groups and applies limits and the device allow-list before init joins.</summary>
    void Create(string name, CgroupLimits limits);

    /// <summary>Applies limits to existing groups (live change on a running container).</summary>
    void Apply(string name, CgroupLimits limits);

    void Freeze(string name, bool frozen);

    bool IsFrozen(string name);

    CgroupStats Stats(string name);

    /// <summary>Removes the groups (after their processes are gone). True when nothing is left.</summary>
    Task<bool> RemoveAsync(string name, CancellationToken ct);

    /// <summary>Names of the containers that have a group under <c>hyperlxd/</c>.</summary>
    IReadOnlyCollection<string> List();
}

/// <summary>Chooses the backend: v2 when the unified hierarchy has the resource controllers, else v1.</summary>
internal static class CgroupDetector
{
    public static ICgroupBackend Detect(string root, string parent)
    {
        foreach (var unified in new[] { root, Path.Combine(root, "unified") })
        {
            var controllers = Path.Combine(unified, "cgroup.controllers");
            if (File.Exists(controllers))
            {
                var have = File.ReadAllText(controllers).Split(' ', '\n', StringSplitOptions.RemoveEmptyEntries);
                if (new[] { "memory", "pids", "cpu" }.All(have.Contains))
                {
                    return new CgroupV2Backend(unified, parent);
                }
            }
        }
        var membership = Path.Combine(root, "unified");
        return new CgroupV1Backend(root, File.Exists(Path.Combine(membership, "cgroup.procs")) ? membership : null, parent);
    }

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
