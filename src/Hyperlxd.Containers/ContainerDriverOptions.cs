namespace Hyperlxd.Containers;

/// <summary>Where the container driver finds its helpers and keeps runtime files.</summary>
public sealed class ContainerDriverOptions
{
    /// <summary>hyperlxd-monitor and hyperlxd-nsexec; default: $HYPERLXD_HELPERS_DIR, else next to the executable.</summary>
    public string? HelpersDir { get; init; }

    /// <summary>Monitor sockets (<c>NAME.sock</c>) and state files (<c>NAME.state</c>).</summary>
    public string RuntimeDir { get; init; } = "/run/hyperlxd";

    /// <summary>The cgroup mount root (v1 controllers below it, or the v2 hierarchy).</summary>
    public string CgroupRoot { get; init; } = "/sys/fs/cgroup";

    /// <summary>
    /// Which cgroup backend runs the containers. Auto: v2 when the unified hierarchy
    /// (<see cref="CgroupRoot"/> itself, or its <c>unified</c> mount on a hybrid host) offers memory, pids
    /// and cpu; otherwise v1. Forcing v2 on a hybrid host puts the containers in the unified hierarchy
    /// with whatever controllers it has (limits needing a missing one are refused).
    /// </summary>
    public CgroupBackendKind CgroupBackend { get; init; } = CgroupBackendKind.Auto;

    /// <summary>
    /// The group (one level below each hierarchy) that holds this daemon's containers. Reconcile
    /// treats everything below it as its own, so two daemons on one host need different parents.
    /// </summary>
    public string CgroupParent { get; init; } = "hyperlxd";

    /// <summary>
    /// The start of root's subordinate id range: the map non-isolated containers share begins here
    /// (uid/gid 0 inside is <see cref="IdmapBase"/> on the host).
    /// </summary>
    public long IdmapBase { get; init; } = 1_000_000;

    /// <summary>The size of the shared map.</summary>
    public long IdmapSize { get; init; } = 65536;

    /// <summary>
    /// How many ids root's range holds (LXD's default map without /etc/subuid: 1000000000); isolated
    /// containers get ranges of their own above the shared map, inside it.
    /// </summary>
    public long IdmapRangeSize { get; init; } = 1_000_000_000;

    /// <summary>
    /// Unprivileged roots stay unshifted and are mounted idmapped where the filesystem allows it
    /// (probed once per filesystem); false: always chown-shift them into the id range.
    /// </summary>
    public bool IdmappedMounts { get; init; } = true;

    /// <summary>
    /// The network namespace the nics' host sides are in (a path such as <c>/run/netns/NAME</c>); null: the
    /// daemon's own. Set, the monitor is started there (<c>nsenter --net</c>) to move the peers in, and
    /// hot-plug moves them from there: for a daemon whose networks live in a namespace of their own, and
    /// for tests, which never touch the host's.
    /// </summary>
    public string? NicNamespace { get; init; }
}

public enum CgroupBackendKind
{
    Auto,
    V1,
    V2,
}

public static class CgroupBackendKinds
{
    /// <summary>
    /// The daemon's override (<c>HYPERLXD_CGROUP_BACKEND</c>, for tests and the bench): <c>auto</c> or empty,
    /// <c>cgroup1</c>/<c>v1</c>, <c>cgroup2</c>/<c>v2</c>.
    /// </summary>
    public static CgroupBackendKind Parse(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => CgroupBackendKind.Auto,
        "cgroup1" or "v1" => CgroupBackendKind.V1,
        "cgroup2" or "v2" => CgroupBackendKind.V2,
        _ => throw new ArgumentException($"Invalid cgroup backend \"{value}\": expected auto, cgroup1 or cgroup2"),
    };
}
