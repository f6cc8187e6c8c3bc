using System.Globalization;
using Hyperlxd.Core.Config;

namespace Hyperlxd.Containers.Cgroups;

/// <summary>The resource limits of one container, parsed from its expanded config (LXD's keys).</summary>
internal sealed record CgroupLimits(
    string? CpuSet,
    int? CpuCount,
    long? CpuQuotaUs,
    long CpuPeriodUs,
    long? CpuShares,
    long? MemoryBytes,
    bool MemorySoft,
    bool Swap,
    long? Processes,
    bool Nesting)
{
    public static readonly string[] LiveKeys =
    {
        "limits.cpu", "limits.cpu.allowance", "limits.cpu.priority", "limits.memory", "limits.memory.enforce",
        "limits.memory.swap", "limits.processes",
    };

    /// <summary>The controller each set key needs (key, controller), in config order of <see cref="ControllerOf"/>.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Needs { get; init; } = [];

    /// <summary>The cgroup controller behind a limit key (same name in v1 and v2).</summary>
    private static readonly KeyValuePair<string, string>[] ControllerOf =
    {
        new("limits.cpu", "cpuset"),
        new("limits.cpu.allowance", "cpu"),
        new("limits.cpu.priority", "cpu"),
        new("limits.memory", "memory"),
        new("limits.memory.swap", "memory"),
        new("limits.processes", "pids"),
    };

    public static CgroupLimits From(IReadOnlyDictionary<string, string> config)
    {
        string? Get(string key) => config.TryGetValue(key, out var v) && v.Length > 0 ? v : null;
        // limits.memory.swap only asks for something when it turns swap off.
        var needs = ControllerOf.Where(kv => Get(kv.Key) is { } v && (kv.Key != "limits.memory.swap" || v == "false")).ToList();

        string? cpuSet = null;
        int? cpuCount = null;
        if (Get("limits.cpu") is { } cpu)
        {
            if (int.TryParse(cpu, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                cpuCount = n;
            }
            else
            {
                cpuSet = cpu;
            }
        }

        // LXD: "50%" is a soft share of CPU time (cpu.shares), "25ms/100ms" a hard quota.
        long? quota = null, shares = null;
        long period = 100_000;
        if (Get("limits.cpu.allowance") is { } allowance)
        {
            if (allowance.EndsWith('%'))
            {
                shares = Math.Max(2, 1024 * long.Parse(allowance[..^1], CultureInfo.InvariantCulture) / 100);
            }
            else
            {
                var parts = allowance.Split('/');
                quota = Ms(parts[0]) * 1000;
                period = Ms(parts[1]) * 1000;
            }
        }
        if (shares is null && Get("limits.cpu.priority") is { } prio)
        {
            shares = 1024 * (long.Parse(prio, CultureInfo.InvariantCulture) + 1) / 11 + 2;
        }

        long? memory = null;
        if (Get("limits.memory") is { } mem)
        {
            memory = mem.EndsWith('%')
                ? Validators.HostMemoryBytes() / 100 * long.Parse(mem[..^1], CultureInfo.InvariantCulture) / 100
                : Validators.ParseSize(mem) ?? throw new BadRequestException($"Invalid value for config key \"limits.memory\": \"{mem}\"");
        }
        long? processes = Get("limits.processes") is { } p ? long.Parse(p, CultureInfo.InvariantCulture) : null;
        return new CgroupLimits(cpuSet, cpuCount, quota, period, shares, memory, Get("limits.memory.enforce") == "soft",
            !LxdBool.IsFalse(Get("limits.memory.swap")), processes, LxdBool.IsTrue(Get("security.nesting"))) { Needs = needs };
    }

    /// <summary>LXD's refusal when a limit's controller is absent (nothing is applied then).</summary>
    public static BadRequestException Missing(string key, string controller) =>
        new($"Failed applying {key}: the {controller} cgroup controller is not available");

    private static long Ms(string v) => long.Parse(v.TrimEnd('s').TrimEnd('m'), CultureInfo.InvariantCulture);

    /// <summary>CPU ids of a set such as <c>0-3,6</c>.</summary>
    public static List<int> ParseCpuSet(string set)
    {
        var cpus = new List<int>();
        foreach (var part in set.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var range = part.Split('-');
            var lo = int.Parse(range[0], CultureInfo.InvariantCulture);
            var hi = range.Length > 1 ? int.Parse(range[1], CultureInfo.InvariantCulture) : lo;
            for (var i = lo; i <= hi; i++)
            {
                cpus.Add(i);
            }
        }
        return cpus;
    }

    /// <summary>The cpuset to use given the CPUs available to the parent group.</summary>
    public string EffectiveCpuSet(string available)
    {
        var avail = ParseCpuSet(available);
        if (CpuSet is not null)
        {
            var wanted = ParseCpuSet(CpuSet);
            var missing = wanted.Where(c => !avail.Contains(c)).ToList();
            if (missing.Count > 0)
            {
                throw new BadRequestException($"Invalid value for config key \"limits.cpu\": \"{CpuSet}\": CPU {missing[0]} does not exist on this host");
            }
            return CpuSet;
        }
        return CpuCount is { } n ? string.Join(',', avail.Take(Math.Max(1, n))) : available;
    }

    /// <summary>LXD's default device allow-list for containers (mknod of anything, use of the basic nodes).</summary>
    public IEnumerable<string> DeviceAllowList()
    {
        yield return "c *:* m";
        yield return "b *:* m";
        yield return "c 136:* rwm"; // /dev/pts/*
        yield return "c 1:3 rwm";   // null
        yield return "c 1:5 rwm";   // zero
        yield return "c 1:7 rwm";   // full
        yield return "c 1:8 rwm";   // random
        yield return "c 1:9 rwm";   // urandom
        yield return "c 5:0 rwm";   // tty
        yield return "c 5:1 rwm";   // console
        yield return "c 5:2 rwm";   // ptmx
        yield return "c 10:229 rwm"; // fuse
        yield return "c 10:200 rwm"; // net/tun
    }
}
