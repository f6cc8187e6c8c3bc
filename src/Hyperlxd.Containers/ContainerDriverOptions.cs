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
    /// The group (one level below each hierarchy) that holds this daemon's containers. Reconcile
    /// treats everything below it as its own, so two daemons on one host need different parents.
    /// </summary>
    public string CgroupParent { get; init; } = "hyperlxd";

    /// <summary>The server-wide id range of unprivileged containers: uid/gid 0 inside is <see cref="IdmapBase"/> on the host.</summary>
    public long IdmapBase { get; init; } = 1_000_000;

    public long IdmapSize { get; init; } = 65536;

    /// <summary>
    /// Unprivileged roots stay unshifted and are mounted idmapped where the filesystem allows it
    /// (probed once per filesystem); false: always chown-shift them into the id range.
    /// </summary>
    public bool IdmappedMounts { get; init; } = true;
}
