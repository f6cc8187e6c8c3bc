using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Projects;
using Hyperlxd.Instances;
using Hyperlxd.State;
using Hyperlxd.State.Repositories;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary>
/// What a request's project changes on instances: the names in a body become storage keys
/// (<see cref="ProjectKeys"/>), profile names the project's own profiles, image sources the project's
/// images; the project's limits and restrictions are checked on the result.
/// </summary>
public static partial class InstanceEndpoints
{
    private static async Task ScopeCreateAsync(HttpContext ctx, InstancesPost req)
    {
        var scope = ProjectScope.Of(ctx);
        if (string.IsNullOrEmpty(req.Name))
        {
            // As LXD: a generated name, unused in this project.
            var taken = (await ctx.Service<InstanceManager>().ListAsync(ctx.RequestAborted))
                .Where(r => ProjectKeys.InProject(r.Name, scope.Name)).Select(r => ProjectKeys.InstanceName(r.Name)).ToHashSet(StringComparer.Ordinal);
            req.Name = PetNames.Unused(taken);
        }
        Names.ValidateUserInstanceName(req.Name);
        req.Name = scope.InstanceKey(req.Name!);
        if (!scope.IsDefault)
        {
            // A project's instances start from its own "default" profile (LXD sets it when none is named).
            req.Profiles = (req.Profiles ?? new List<string> { ProfileService.Default }).Select(scope.ProfileKey).ToList();
        }
        if (req.Source is { } source)
        {
            if (source.Type == "copy" && !string.IsNullOrEmpty(source.Source))
            {
                var from = string.IsNullOrEmpty(source.Project) ? scope : await ProjectScope.OtherAsync(ctx, source.Project);
                var slash = source.Source.IndexOf('/');
                source.Source = slash < 0 ? from.InstanceKey(source.Source) : from.InstanceKey(source.Source[..slash]) + source.Source[slash..];
                source.Project = null;
            }
            else if (source.Type == "image" && string.IsNullOrEmpty(source.Server) && !string.IsNullOrEmpty(source.Alias))
            {
                source.Alias = scope.AliasKey(source.Alias);
            }
        }
    }

    /// <summary>An image source must be one of the project's images (a fingerprint of another project's is not found).</summary>
    private static async Task CheckImageVisibleAsync(HttpContext ctx, InstanceRecord record)
    {
        if (record.Config.GetValueOrDefault("volatile.base_image") is not { Length: > 0 } fp)
        {
            return;
        }
        var scope = ProjectScope.Of(ctx);
        var memberships = await ctx.Service<StateStore>().Projects.ImageProjectsAsync(ctx.RequestAborted);
        if (!ProjectService.ImageIn(memberships, fp, scope.ImageProject))
        {
            throw new NotFoundException("Image not found");
        }
    }

    /// <summary>PUT/PATCH: profile names become the project's keys; limits and restrictions are checked on the result.</summary>
    private static async Task ScopeUpdateAsync(HttpContext ctx, InstanceManager.Expanded e, InstancePut req, bool patch)
    {
        var scope = ProjectScope.Of(ctx);
        if (req.Profiles is not null)
        {
            req.Profiles = req.Profiles.Select(scope.ProfileKey).ToList();
        }
        if (!string.IsNullOrEmpty(req.Restore))
        {
            return;
        }
        var candidate = new InstanceRecord
        {
            Name = e.Record.Name,
            Type = e.Record.Type,
            Architecture = e.Record.Architecture,
            Config = patch ? Merge(e.Record.Config, req.Config) : new(req.Config ?? new()),
            Devices = patch ? MergeDevices(e.Record.Devices, req.Devices) : new(req.Devices ?? new()),
            Profiles = req.Profiles ?? (patch ? e.Record.Profiles : new()),
        };
        await ctx.Service<ProjectPolicy>().CheckInstanceAsync(ProjectKeys.InstanceProject(e.Record.Name), candidate, creating: false, ctx.RequestAborted);
    }

    private static Dictionary<string, string> Merge(Dictionary<string, string> current, Dictionary<string, string>? changes)
    {
        var merged = new Dictionary<string, string>(current);
        foreach (var (k, v) in changes ?? new())
        {
            merged[k] = v;
        }
        return merged;
    }

    private static Dictionary<string, Dictionary<string, string>> MergeDevices(Dictionary<string, Dictionary<string, string>> current, Dictionary<string, Dictionary<string, string>>? changes)
    {
        var merged = new Dictionary<string, Dictionary<string, string>>(current);
        foreach (var (k, v) in changes ?? new())
        {
            merged[k] = v;
        }
        return merged;
    }
}
