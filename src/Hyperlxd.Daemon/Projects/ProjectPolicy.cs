using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Instances;
using Hyperlxd.Instances;
using Hyperlxd.State;
using Hyperlxd.State.Repositories;

namespace Hyperlxd.Daemon.Projects;

/// <summary>
/// A project's <c>limits.*</c> and <c>restricted.*</c> (LXD 5.0.2 lxd/project/permissions.go), checked
/// when an instance is created or changed, before anything is written. Limits are a 400 naming the
/// key; what <c>restricted.*</c> forbids is a 403 naming the key or device. Partial file:
/// ProjectPolicy.Restricted.cs, ProjectPolicy.Volumes.cs.
/// </summary>
public sealed partial class ProjectPolicy(StateStore store, InstanceManager instances)
{
    private static readonly string[] AggregateKeys = { "limits.cpu", "limits.memory", "limits.processes", "limits.disk" };

    public async Task<Project> ProjectAsync(string name, CancellationToken ct) =>
        await store.Projects.FindAsync(name, ct) ?? throw new NotFoundException("Project not found");

    /// <summary>
    /// Checks an instance as it would be after the change (<paramref name="candidate"/>, its key naming the
    /// project): instance counts when <paramref name="creating"/>, aggregate limits and restrictions always.
    /// </summary>
    public async Task CheckInstanceAsync(string project, InstanceRecord candidate, bool creating, CancellationToken ct)
    {
        var p = await ProjectAsync(project, ct);
        var limited = p.Config.Keys.Any(k => k.StartsWith("limits.", StringComparison.Ordinal));
        var restricted = LxdBool.IsTrue(p.Config.GetValueOrDefault("restricted"));
        if (!limited && !restricted && NetworkProject(p) == ProjectKeys.Default)
        {
            return;
        }
        var expanded = await instances.ExpandAsync(candidate, ct);
        CheckNetworkProject(p, expanded.Devices);
        if (restricted)
        {
            CheckRestricted(p, candidate.Type, $"{candidate.Type.ToApi()} \"{ProjectKeys.InstanceName(candidate.Name)}\"", expanded.Config, expanded.Devices);
        }
        if (!limited)
        {
            return;
        }
        var others = (await instances.ListAsync(ct)).Where(r => ProjectKeys.InProject(r.Name, project) && r.Name != candidate.Name).ToList();
        if (creating)
        {
            CheckCount(p, "limits.instances", others.Count, $"Reached maximum number of instances in project \"{project}\"");
            var typeKey = candidate.Type == InstanceType.Container ? "limits.containers" : "limits.virtual-machines";
            CheckCount(p, typeKey, others.Count(r => r.Type == candidate.Type), $"Reached maximum number of instances of type \"{candidate.Type.ToApi()}\" in project \"{project}\"");
        }
        var all = await instances.ExpandAllAsync(others, ct);
        all.Add(expanded);
        await CheckAggregatesAsync(p, all, ct);
    }

    /// <summary>
    /// The project's aggregate limits (<paramref name="keys"/>, else limits.cpu/memory/processes/disk) over its instances as
    /// given (expanded) and, for limits.disk, its custom volumes, one of them replaced by <paramref name="volume"/> when given.
    /// </summary>
    private async Task CheckAggregatesAsync(Project p, List<InstanceManager.Expanded> all, CancellationToken ct,
        IReadOnlyList<string>? keys = null, VolumeChange? volume = null)
    {
        var project = p.Name;
        foreach (var key in keys ?? AggregateKeys)
        {
            if (p.Config.GetValueOrDefault(key) is not { Length: > 0 } limitText)
            {
                continue;
            }
            var limit = Parse(key, limitText) ?? throw new BadRequestException($"Invalid value \"{limitText}\" for limit \"{key}\"");
            var total = key == "limits.disk" ? await VolumesDiskAsync(project, volume, ct) : 0;
            foreach (var e in all)
            {
                var value = key == "limits.disk" ? RootDisk.Size(e.Devices) : e.Config.GetValueOrDefault(key);
                if (string.IsNullOrEmpty(value))
                {
                    throw new BadRequestException(key == "limits.disk"
                        ? $"Instance \"{ProjectKeys.InstanceName(e.Record.Name)}\" in project \"{project}\" has no \"size\" config set on the root device either directly or via a profile (the project sets \"limits.disk\")"
                        : $"Instance \"{ProjectKeys.InstanceName(e.Record.Name)}\" in project \"{project}\" has no \"{key}\" config, either directly or via a profile (the project sets \"{key}\")");
                }
                total += Parse(key, value) ?? throw new BadRequestException($"Failed parsing \"{key}\" for instance \"{ProjectKeys.InstanceName(e.Record.Name)}\" in project \"{project}\": a limited project needs a plain number or size, not \"{value}\"");
            }
            if (total > limit)
            {
                throw new BadRequestException($"Reached maximum aggregate value \"{limitText}\" for \"{key}\" in project \"{project}\"");
            }
        }
    }

    /// <summary>A change of a project's config must not set a limit below what it already uses (LXD's AllowProjectUpdate).</summary>
    public async Task CheckProjectUpdateAsync(string project, Dictionary<string, string> config, CancellationToken ct)
    {
        var members = (await instances.ListAsync(ct)).Where(r => ProjectKeys.InProject(r.Name, project)).ToList();
        await CheckRestrictionsChangeAsync(project, config, members, ct);
        if (config.GetValueOrDefault("limits.instances") is { Length: > 0 } li && long.TryParse(li, out var maxInstances) && members.Count > maxInstances)
        {
            throw new BadRequestException($"\"limits.instances\" is too low: there currently are {members.Count} total instances in project \"{project}\"");
        }
        foreach (var (key, type) in new[] { ("limits.containers", InstanceType.Container), ("limits.virtual-machines", InstanceType.VirtualMachine) })
        {
            var count = members.Count(r => r.Type == type);
            if (config.GetValueOrDefault(key) is { Length: > 0 } v && long.TryParse(v, out var max) && count > max)
            {
                throw new BadRequestException($"\"{key}\" is too low: there currently are {count} instances of type {type.ToApi()} in project \"{project}\"");
            }
        }
        var expanded = await instances.ExpandAllAsync(members, ct);
        foreach (var key in AggregateKeys)
        {
            if (config.GetValueOrDefault(key) is not { Length: > 0 } limitText || Parse(key, limitText) is not { } limit)
            {
                continue;
            }
            var total = key == "limits.disk" ? await VolumesDiskAsync(project, null, ct) : 0;
            foreach (var e in expanded)
            {
                var value = key == "limits.disk" ? RootDisk.Size(e.Devices) : e.Config.GetValueOrDefault(key);
                if (string.IsNullOrEmpty(value) || Parse(key, value) is not { } used)
                {
                    throw new BadRequestException($"Can't change \"{key}\" in project \"{project}\": instance \"{ProjectKeys.InstanceName(e.Record.Name)}\" has no \"{(key == "limits.disk" ? "size" : key)}\" config, either directly or via a profile");
                }
                total += used;
            }
            if (total > limit)
            {
                throw new BadRequestException($"\"{key}\" is too low: current total is \"{total}\"");
            }
        }
    }

    /// <summary>
    /// LXD's AllowProjectUpdate: when a restricted project's <c>restricted*</c> keys change, what the project
    /// already holds (instances with their profiles applied, and its profiles) must pass the new restrictions.
    /// </summary>
    private async Task CheckRestrictionsChangeAsync(string project, Dictionary<string, string> config, List<InstanceRecord> members, CancellationToken ct)
    {
        var current = await ProjectAsync(project, ct);
        var changed = current.Config.Keys.Union(config.Keys)
            .FirstOrDefault(k => k.StartsWith("restricted", StringComparison.Ordinal) && current.Config.GetValueOrDefault(k, "") != config.GetValueOrDefault(k, ""));
        if (changed is null || !LxdBool.IsTrue(config.GetValueOrDefault("restricted")))
        {
            return;
        }
        var next = new Project { Name = project, Config = config };
        try
        {
            foreach (var e in await instances.ExpandAllAsync(members, ct))
            {
                CheckRestricted(next, e.Record.Type, $"{e.Record.Type.ToApi()} \"{ProjectKeys.InstanceName(e.Record.Name)}\"", e.Config, e.Devices);
            }
            foreach (var profile in (await store.Profiles.ListAsync(ct)).Where(pr => ProjectKeys.SplitScoped(pr.Name).Project == project))
            {
                CheckRestricted(next, null, $"profile \"{ProjectKeys.SplitScoped(profile.Name).Name}\"", profile.Config, profile.Devices);
            }
        }
        catch (ForbiddenException e)
        {
            throw new BadRequestException($"Conflict detected when changing \"{changed}\" in project \"{project}\": {e.Message}");
        }
    }

    private static void CheckCount(Project p, string key, int existing, string message)
    {
        if (p.Config.GetValueOrDefault(key) is { Length: > 0 } text && long.TryParse(text, out var max) && existing + 1 > max)
        {
            throw new BadRequestException($"{message} (\"{key}\" is {max})");
        }
    }

    /// <summary>limits.cpu counts CPUs (a number, not a set or percentage); memory and disk are sizes.</summary>
    internal static long? Parse(string key, string value) => key switch
    {
        "limits.cpu" or "limits.processes" => long.TryParse(value, out var n) && n >= 0 ? n : null,
        _ => value.EndsWith('%') ? null : Validators.ParseSize(value),
    };
}
