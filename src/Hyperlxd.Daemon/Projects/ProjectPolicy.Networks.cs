using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Daemon.Projects;

/// <summary>
/// Which networks a project sees and may use (LXD 5.0.2 lxd/project/project.go NetworkProject and
/// NetworkAllowed). With <c>features.networks=true</c> a project has a namespace of network names of its
/// own; only OVN networks can live there in LXD, and OVN is not offered here, so such a project has none:
/// the default project's networks (lxdbr0) are neither visible nor usable from it.
/// </summary>
public sealed partial class ProjectPolicy
{
    /// <summary>The project whose networks <paramref name="p"/> uses: its own with <c>features.networks</c>, else default's.</summary>
    public static string NetworkProject(Project p) =>
        p.Name != ProjectKeys.Default && LxdBool.IsTrue(p.Config.GetValueOrDefault("features.networks")) ? p.Name : ProjectKeys.Default;

    /// <summary>
    /// LXD's NetworkAllowed: any network in an unrestricted project; in a restricted one none when nics are
    /// blocked, only managed ones unless <c>restricted.devices.nic=allow</c>, and only those listed in
    /// <c>restricted.networks.access</c> when it is set.
    /// </summary>
    public static bool NetworkAllowed(Project p, string network, bool managed)
    {
        if (!LxdBool.IsTrue(p.Config.GetValueOrDefault("restricted")))
        {
            return true;
        }
        var nic = p.Config.GetValueOrDefault("restricted.devices.nic", "");
        if (nic == "block" || (nic is "managed" or "" && !managed))
        {
            return false;
        }
        return p.Config.GetValueOrDefault("restricted.networks.access") is not { Length: > 0 } access
            || access.Split(',', StringSplitOptions.TrimEntries).Contains(network);
    }

    /// <summary>
    /// A nic naming a network in a project with networks of its own: that project holds no network of that
    /// name (see the class comment), so it is an error as in LXD's nictype lookup.
    /// </summary>
    private static void CheckNetworkProject(Project p, IReadOnlyDictionary<string, Dictionary<string, string>> devices)
    {
        var networkProject = NetworkProject(p);
        if (networkProject == ProjectKeys.Default)
        {
            return;
        }
        foreach (var (name, device) in devices)
        {
            if (device.GetValueOrDefault("type") == "nic" && device.GetValueOrDefault("network") is { Length: > 0 } network)
            {
                throw new BadRequestException($"Invalid devices: Device validation failed for \"{name}\": Failed to load network \"{network}\" for project \"{networkProject}\": Network not found");
            }
        }
    }

    /// <summary>
    /// A profile as it would be after a create or update (LXD's AllowProfileUpdate): the restrictions of its
    /// project and, with <c>features.networks</c>, that its nics name no network the project lacks.
    /// </summary>
    public async Task CheckProfileAsync(string profileKey, IReadOnlyDictionary<string, string> config, IReadOnlyDictionary<string, Dictionary<string, string>> devices, CancellationToken ct)
    {
        var (project, name) = ProjectKeys.SplitScoped(profileKey);
        if (project == ProjectKeys.Default)
        {
            return; // the default project is never restricted and uses its own networks
        }
        var p = await ProjectAsync(project, ct);
        CheckNetworkProject(p, devices);
        var restricted = LxdBool.IsTrue(p.Config.GetValueOrDefault("restricted"));
        if (restricted)
        {
            CheckRestricted(p, null, $"profile \"{name}\"", config, devices);
        }
        if (!restricted && !p.Config.Keys.Any(k => k.StartsWith("limits.", StringComparison.Ordinal)))
        {
            return;
        }
        // The project's instances as they would be with the changed profile: restrictions and aggregate limits.
        var profiles = (await store.Profiles.ListAsync(ct)).ToDictionary(pr => pr.Name);
        profiles[profileKey] = new Profile
        {
            Name = profileKey,
            Config = new Dictionary<string, string>(config),
            Devices = devices.ToDictionary(d => d.Key, d => new Dictionary<string, string>(d.Value)),
        };
        var members = (await instances.ListAsync(ct)).Where(r => ProjectKeys.InProject(r.Name, project)).ToList();
        if (!members.Any(r => r.Profiles.Contains(profileKey)))
        {
            return;
        }
        var expanded = members.Select(r =>
        {
            var (c, d) = Core.Instances.ProfileExpansion.Expand(r.Profiles, profiles, r.Config, r.Devices);
            return new Instances.InstanceManager.Expanded(r, c, d);
        }).ToList();
        if (restricted)
        {
            foreach (var e in expanded.Where(e => e.Record.Profiles.Contains(profileKey)))
            {
                CheckRestricted(p, e.Record.Type, $"{e.Record.Type.ToApi()} \"{ProjectKeys.InstanceName(e.Record.Name)}\"", e.Config, e.Devices);
            }
        }
        await CheckAggregatesAsync(p, expanded, ct);
    }
}
