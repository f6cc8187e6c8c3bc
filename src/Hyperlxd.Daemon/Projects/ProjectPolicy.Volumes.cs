using Hyperlxd.Core;

namespace Hyperlxd.Daemon.Projects;

/// <summary>
/// <c>limits.disk</c> over custom volumes (LXD 5.0.2's AllowVolumeCreation and getTotalsAcrossProjectEntities):
/// the project's own volumes count with their <c>size</c> beside its instances' root disks, and in a limited
/// project a volume without a size is refused.
/// </summary>
public sealed partial class ProjectPolicy
{
    /// <summary>Custom volume <c>Key</c> on <c>Pool</c> as it would be with <c>Config</c> (created, resized, copied or moved in).</summary>
    private sealed record VolumeChange(string Pool, string Key, IReadOnlyDictionary<string, string> Config);

    /// <summary>Checks custom volume <paramref name="key"/> as it would be with <paramref name="config"/> against the limits.disk of the project owning the key.</summary>
    public async Task CheckVolumeAsync(string pool, string key, IReadOnlyDictionary<string, string> config, CancellationToken ct)
    {
        var project = ProjectKeys.SplitScoped(key).Project;
        var p = await ProjectAsync(project, ct);
        if (p.Config.GetValueOrDefault("limits.disk") is not { Length: > 0 })
        {
            return;
        }
        var members = await instances.ExpandAllAsync((await instances.ListAsync(ct)).Where(r => ProjectKeys.InProject(r.Name, project)).ToList(), ct);
        await CheckAggregatesAsync(p, members, ct, ["limits.disk"], new VolumeChange(pool, key, config));
    }

    /// <summary>
    /// The sizes of the custom volumes a project holds (those keyed to it, every pool), one of them replaced by
    /// <paramref name="change"/> (or added); a volume without a size is LXD's 400.
    /// </summary>
    private async Task<long> VolumesDiskAsync(string project, VolumeChange? change, CancellationToken ct)
    {
        var volumes = (await store.Storage.ListVolumesAsync(null, "custom", ct))
            .Where(v => ProjectKeys.SplitScoped(v.Name).Project == project && (v.Pool, v.Name) != (change?.Pool, change?.Key))
            .Select(v => (Name: ProjectKeys.SplitScoped(v.Name).Name, Config: (IReadOnlyDictionary<string, string>)v.Config)).ToList();
        if (change is not null)
        {
            volumes.Add((ProjectKeys.SplitScoped(change.Key).Name, change.Config));
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
