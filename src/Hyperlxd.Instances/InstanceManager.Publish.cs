using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.Images;

namespace Hyperlxd.Instances;

/// <summary><c>lxc publish</c>: an image made from a stopped instance or one of its snapshots.</summary>
public sealed partial class InstanceManager
{
    /// <summary>
    /// Checks the request's source (LXD's imgPostInstanceInfo): "snapshot" names "instance/snap", the
    /// instance types name an instance; the instance must exist.
    /// </summary>
    public async Task<(string Instance, string? Snapshot)> CheckPublishSourceAsync(ImagesPostSource source, CancellationToken ct)
    {
        var name = source.Name;
        if (string.IsNullOrEmpty(source.Type) || string.IsNullOrEmpty(name))
        {
            throw new BadRequestException("No source provided: source.type and source.name are required");
        }
        var slash = name.IndexOf('/', StringComparison.Ordinal);
        switch (source.Type)
        {
            case "snapshot" when slash < 0:
                throw new BadRequestException($"Invalid source.name \"{name}\": a snapshot is named INSTANCE/SNAPSHOT");
            case "container" or "virtual-machine" or "instance" when slash >= 0:
                throw new BadRequestException($"Invalid source.name \"{name}\": this is a snapshot (use source.type \"snapshot\")");
        }
        var (instance, snapshot) = slash < 0 ? (name, null) : (name[..slash], name[(slash + 1)..]);
        var e = await LoadAsync(instance, ct);
        if (source.Type is "container" or "virtual-machine" && e.Type.ToApi() != source.Type)
        {
            throw new BadRequestException($"Instance \"{instance}\" is not a {source.Type}");
        }
        if (snapshot is not null)
        {
            await Repo.GetSnapshotAsync(instance, snapshot, ct);
        }
        else
        {
            await CheckStoppedForPublishAsync(e, ct); // a 400 before the operation (checked again under the lock)
        }
        return (instance, snapshot);
    }

    /// <summary>
    /// Packs the instance (or snapshot) volume into an image under the instance lock, so it cannot start
    /// meanwhile. A running instance is refused as LXD refuses it (the client stops it with --force).
    /// </summary>
    public async Task<Image> PublishAsync(string instance, string? snapshot, ImagesPost req, ImportOptions opts, CancellationToken ct)
    {
        using var _ = await _locks.AcquireAsync(instance, ct);
        var e = await LoadAsync(instance, ct);
        var pool = pools.Get(RootDisk.Find(e.Devices).Pool);
        IReadOnlyDictionary<string, string> config = e.Config;
        string path;
        if (snapshot is null)
        {
            await CheckStoppedForPublishAsync(e, ct);
            path = pool.InstanceVolumePath(instance, e.Type);
        }
        else
        {
            config = (await Repo.GetSnapshotAsync(instance, snapshot, ct)).Config;
            path = pool.InstanceSnapshotPath(instance, e.Type, snapshot);
        }
        // The tarball must hold the image's ids: a chown-shifted disk (no idmapped mounts) is unshifted while packed.
        var diskMap = e.Type == InstanceType.Container ? ImageStore.ParseIdmap(config.GetValueOrDefault("volatile.last_state.idmap"), "publish") : null;
        var source = new PublishSource(path, e.Type.ToApi(), e.Record.Architecture, req.Properties is { Count: > 0 } ? req.Properties : null,
            req.ExpiresAt, req.CompressionAlgorithm, diskMap);
        return await images.PublishAsync(source, opts, ct);
    }

    private async Task CheckStoppedForPublishAsync(Expanded e, CancellationToken ct)
    {
        if ((await DriverOf(e).GetStateAsync(SpecOf(e), ct)).Status != InstanceStatus.Stopped)
        {
            throw new BadRequestException("The instance is currently running. Use --force to have it stopped and restarted");
        }
    }
}
