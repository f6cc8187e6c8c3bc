using Hyperlxd.Core;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Daemon.Projects;

/// <summary>
/// <c>limits.disk</c> over custom volumes (LXD 5.0.2's AllowVolumeCreation and getTotalsAcrossProjectEntities):
/// the project's own volumes count with their <c>size</c> beside its instances' root disks, and in a limited
/// project a volume without a size is refused.
/// </summary>
public sealed partial class ProjectPolicy
{
    /// <summary>
    /// Checks custom volume <paramref name="key"/> as it would be with <paramref name="config"/> (created, resized,
    /// copied or moved in) against the limits.disk of the project owning the key.
    /// </summary>
    public async Task CheckVolumeAsync(string pool, string key, IReadOnlyDictionary<string, string> config, CancellationToken ct)
    {
        var (project, name) = ProjectKeys.SplitScoped(key);
        var p = await ProjectAsync(project, ct);
        if (p.Config.GetValueOrDefault("limits.disk") is not { Length: > 0 } limitText)
        {
            return;
        }
        var limit = Parse("limits.disk", limitText) ?? throw new BadRequestException($"Invalid value \"{limitText}\" for limit \"limits.disk\"");
        var total = await VolumesDiskAsync(project, (pool, key), (name, config), ct);
        foreach (var e in await instances.ExpandAllAsync((await instances.ListAsync(ct)).Where(r => ProjectKeys.InProject(r.Name, project)).ToList(), ct))
        {
            var size = RootDisk.Size(e.Devices);
            total += Parse("limits.disk", size) ?? throw new BadRequestException(
                $"Instance \"{ProjectKeys.InstanceName(e.Record.Name)}\" in project \"{project}\" has no \"size\" config set on the root device either directly or via a profile (the project sets \"limits.disk\")");
        }
        if (total > limit)
        {
            throw new BadRequestException($"Reached maximum aggregate value \"{limitText}\" for \"limits.disk\" in project \"{project}\"");
        }
    }

    /// <summary>
    /// The sizes of the custom volumes a project holds (those keyed to it, every pool), one of them replaced by
    /// <paramref name="candidate"/> (or added); a volume without a size is LXD's 400.
    /// </summary>
    private async Task<long> VolumesDiskAsync(string project, (string Pool, string Key)? replaced, (string Name, IReadOnlyDictionary<string, string> Config)? candidate, CancellationToken ct)
    {
        var volumes = (await store.Storage.ListVolumesAsync(null, "custom", ct))
            .Where(v => ProjectKeys.SplitScoped(v.Name).Project == project && (v.Pool, v.Name) != replaced)
            .Select(v => (Name: ProjectKeys.SplitScoped(v.Name).Name, Config: (IReadOnlyDictionary<string, string>)v.Config)).ToList();
        if (candidate is { } c)
        {
            volumes.Add(c);
        }
        long total = 0;
        foreach (var (name, config) in volumes)
        {
            if (config.GetValueOrDefault("size") is not { Length: > 0 } size)
            {
                throw new BadRequestException($"Custom volume \"{name}\" in project \"{project}\" has no \"size\" config set (the project sets \"limits.disk\")");
            }
            total += Parse("limits.disk", size) ?? throw new BadRequestException($"Parse \"size\" for custom volume \"{name}\" in project \"{project}\": \"{size}\"");
        }
        return total;
    }
}
