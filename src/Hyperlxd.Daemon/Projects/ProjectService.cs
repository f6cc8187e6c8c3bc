using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Instances;
using Hyperlxd.Instances;
using Hyperlxd.State;
using Hyperlxd.Storage;

namespace Hyperlxd.Daemon.Projects;

/// <summary>
/// Projects as LXD 5.0.2 keeps them (lxd/api_project.go): create with the default features on and the
/// project's own default profile, PUT/PATCH (features change only on empty projects, never on default),
/// rename and delete of empty projects only, <c>used_by</c>, and the state of its limits.
/// </summary>
public sealed class ProjectService(StateStore store, InstanceManager instances, ProjectPolicy policy, EventHub events)
{
    private static readonly string[] Features = { "features.images", "features.profiles", "features.storage.volumes", "features.networks" };
    private static readonly string[] DefaultOn = { "features.images", "features.profiles", "features.storage.volumes" };

    private static readonly Dictionary<string, Validators.Check> Keys = BuildKeys();

    private static readonly string[] RouteKeys = { "ipv4.routes", "ipv6.routes" };

    public static string Url(string name) => "/1.0/projects/" + Uri.EscapeDataString(name);

    public async Task<List<Project>> ListAsync(CancellationToken ct)
    {
        var list = await store.Projects.ListAsync(ct);
        var usage = await UsageAsync(ct);
        foreach (var p in list)
        {
            p.UsedBy = UsedBy(p, usage);
        }
        return list;
    }

    public async Task<Project> GetAsync(string name, CancellationToken ct)
    {
        var p = await policy.ProjectAsync(name, ct);
        p.UsedBy = UsedBy(p, await UsageAsync(ct));
        return p;
    }

    public static string ETagOf(Project p) =>
        Core.Query.ETag.Compute(new ProjectPut { Description = p.Description, Config = p.Config }, ApiJsonContext.Default.ProjectPut);

    public async Task CreateAsync(ProjectsPost req, EventLifecycleRequestor requestor, CancellationToken ct)
    {
        ProjectKeys.ValidateProjectName(req.Name);
        var config = new Dictionary<string, string>(req.Config ?? new());
        foreach (var feature in DefaultOn)
        {
            config.TryAdd(feature, "true");
        }
        ValidateConfig(config);
        await ValidateSubnetsAsync(config, ct);
        var project = new Project { Name = req.Name!, Description = req.Description ?? "", Config = config };
        await store.Projects.CreateAsync(project, LxdBool.IsTrue(config["features.profiles"]) ? DefaultProfile(project.Name) : null, ct);
        events.PublishLifecycle("project-created", Url(project.Name), null, requestor);
    }

    /// <summary>PUT replaces description and config; PATCH keeps what the request leaves out and merges config keys.</summary>
    public async Task UpdateAsync(string name, ProjectPut req, bool patch, Action<Project> checkETag, EventLifecycleRequestor requestor, CancellationToken ct)
    {
        var current = await GetAsync(name, ct);
        checkETag(current);
        var description = req.Description ?? (patch ? current.Description : "");
        var config = patch ? new Dictionary<string, string>(current.Config) : new Dictionary<string, string>();
        foreach (var (k, v) in req.Config ?? new())
        {
            config[k] = v;
        }
        var changed = current.Config.Keys.Union(config.Keys).Where(k => current.Config.GetValueOrDefault(k) != config.GetValueOrDefault(k)).ToList();
        var features = changed.Where(Features.Contains).ToList();
        if (features.Count > 0)
        {
            if (name == ProjectKeys.Default)
            {
                throw new BadRequestException($"You can't change the features of the default project (\"{features[0]}\")");
            }
            // Empty apart from its own default profile.
            var inUse = current.UsedBy.Count > 1 || (current.UsedBy.Count == 1 && !current.UsedBy[0].Contains("/profiles/default", StringComparison.Ordinal));
            if (inUse)
            {
                var f = features[0];
                throw new BadRequestException(LxdBool.IsTrue(current.Config.GetValueOrDefault(f))
                    ? $"Project feature \"{f}\" cannot be disabled on non-empty projects"
                    : $"Project feature \"{f}\" cannot be enabled on non-empty projects");
            }
        }
        ValidateConfig(config);
        await ValidateSubnetsAsync(config, ct);
        await policy.CheckProjectUpdateAsync(name, config, ct);
        Profile? add = null;
        string? drop = null;
        if (features.Contains("features.profiles"))
        {
            if (LxdBool.IsTrue(config.GetValueOrDefault("features.profiles")))
            {
                add = DefaultProfile(name);
            }
            else
            {
                drop = ProjectKeys.Scoped(name, ProfileService.Default);
            }
        }
        await store.Projects.UpdateAsync(name, description, config, add, drop, ct);
        events.PublishLifecycle("project-updated", Url(name), null, requestor);
    }

    /// <summary>Checked before the operation starts: the operation itself only renames.</summary>
    public async Task PrepareRenameAsync(string name, string? newName, CancellationToken ct)
    {
        if (name == ProjectKeys.Default)
        {
            throw new ForbiddenException("The 'default' project cannot be renamed");
        }
        ProjectKeys.ValidateProjectName(newName);
        if (await store.Projects.FindAsync(newName!, ct) is not null)
        {
            throw new ConflictException($"A project named \"{newName}\" already exists");
        }
        if (!IsEmpty(await GetAsync(name, ct)))
        {
            throw new BadRequestException("Only empty projects can be renamed");
        }
    }

    public async Task RenameAsync(string name, string newName, EventLifecycleRequestor requestor, CancellationToken ct)
    {
        await PrepareRenameAsync(name, newName, ct);
        var profiles = (await store.Profiles.ListAsync(ct)).Select(p => p.Name).Where(k => ProjectKeys.SplitScoped(k).Project == name)
            .Select(k => (k, ProjectKeys.Scoped(newName, ProjectKeys.SplitScoped(k).Name))).ToList();
        await store.Projects.RenameAsync(name, newName, profiles, ct);
        events.PublishLifecycle("project-renamed", Url(newName), new() { ["old_name"] = name }, requestor);
    }

    public async Task DeleteAsync(string name, EventLifecycleRequestor requestor, CancellationToken ct)
    {
        if (name == ProjectKeys.Default)
        {
            throw new ForbiddenException("The 'default' project cannot be deleted");
        }
        if (!IsEmpty(await GetAsync(name, ct)))
        {
            throw new BadRequestException("Only empty projects can be removed");
        }
        var profiles = (await store.Profiles.ListAsync(ct)).Select(p => p.Name).Where(k => ProjectKeys.SplitScoped(k).Project == name).ToList();
        await store.Projects.DeleteAsync(name, profiles, ct);
        events.PublishLifecycle("project-deleted", Url(name), null, requestor);
    }

    /// <summary>GET /1.0/projects/NAME/state: what the project uses against each limit (LXD's resource names).</summary>
    public async Task<ProjectState> StateAsync(string name, CancellationToken ct)
    {
        var p = await policy.ProjectAsync(name, ct);
        var members = await instances.ExpandAllAsync((await instances.ListAsync(ct)).Where(r => ProjectKeys.InProject(r.Name, name)), ct);
        long Sum(string key) => members.Sum(e => ProjectPolicy.Parse(key, key == "limits.disk" ? RootDisk.Size(e.Devices) : e.Config.GetValueOrDefault(key, "")) ?? 0);
        long Limit(string key) => p.Config.GetValueOrDefault(key) is { Length: > 0 } v && ProjectPolicy.Parse(key, v) is { } n ? n : -1;
        return new ProjectState
        {
            Resources = new()
            {
                ["containers"] = new() { Limit = Limit("limits.containers"), Usage = members.Count(e => e.Record.Type == InstanceType.Container) },
                ["cpu"] = new() { Limit = Limit("limits.cpu"), Usage = Sum("limits.cpu") },
                ["disk"] = new() { Limit = Limit("limits.disk"), Usage = Sum("limits.disk") },
                ["instances"] = new() { Limit = Limit("limits.instances"), Usage = members.Count },
                ["memory"] = new() { Limit = Limit("limits.memory"), Usage = Sum("limits.memory") },
                ["networks"] = new() { Limit = -1, Usage = 0 },
                ["processes"] = new() { Limit = Limit("limits.processes"), Usage = Sum("limits.processes") },
                ["virtual-machines"] = new() { Limit = Limit("limits.virtual-machines"), Usage = members.Count(e => e.Record.Type == InstanceType.VirtualMachine) },
            },
        };
    }

    private static bool IsEmpty(Project p) => p.UsedBy.All(u => u.StartsWith("/1.0/profiles/default", StringComparison.Ordinal));

    private static Profile DefaultProfile(string project) => new()
    {
        Name = ProjectKeys.Scoped(project, ProfileService.Default),
        Description = $"Default LXD profile for project {project}",
    };

    private sealed record Usage(List<string> Instances, List<string> Profiles, Dictionary<string, List<string>> ImageProjects, List<string> Images, List<(string Pool, string Key)> Volumes);

    private async Task<Usage> UsageAsync(CancellationToken ct) => new(
        (await instances.ListAsync(ct)).Select(r => r.Name).ToList(),
        (await store.Profiles.ListAsync(ct)).Select(p => p.Name).ToList(),
        await store.Projects.ImageProjectsAsync(ct),
        (await store.Images.ListAsync(ct)).Select(i => i.Fingerprint).ToList(),
        (await store.Storage.ListVolumesAsync(null, "custom", ct)).Select(v => (v.Pool, v.Name)).ToList());

    /// <summary>LXD's order: instances, profiles, images, then the custom volumes the project holds (default's and those with features.storage.volumes).</summary>
    private static List<string> UsedBy(Project p, Usage u)
    {
        var used = u.Instances.Where(k => ProjectKeys.InProject(k, p.Name)).Select(ProjectKeys.InstanceUrl).ToList();
        used.AddRange(u.Profiles.Where(k => ProjectKeys.SplitScoped(k).Project == p.Name).Select(ProjectKeys.ProfileUrl));
        if (ProjectScopeFeature(p, "features.images"))
        {
            used.AddRange(u.Images.Where(fp => ImageIn(u.ImageProjects, fp, p.Name)).Select(fp => ProjectKeys.WithProject("/1.0/images/" + fp, p.Name)));
        }
        used.AddRange(u.Volumes.Where(v => ProjectKeys.SplitScoped(v.Key).Project == p.Name).Select(v => ProjectKeys.VolumeUrl(v.Pool, "custom", v.Key)));
        return used;
    }

    private static bool ProjectScopeFeature(Project p, string key) => Http.ProjectScope.Feature(p, key);

    /// <summary>Whether project <paramref name="project"/> (one with its own images) holds the image.</summary>
    public static bool ImageIn(Dictionary<string, List<string>> imageProjects, string fingerprint, string project) =>
        imageProjects.TryGetValue(fingerprint, out var projects) ? projects.Contains(project) : project == ProjectKeys.Default;

    public static void ValidateConfig(Dictionary<string, string> config)
    {
        foreach (var (key, value) in config)
        {
            if (key.StartsWith("user.", StringComparison.Ordinal))
            {
                continue;
            }
            if (!Keys.TryGetValue(key, out var check))
            {
                throw new BadRequestException($"Invalid project configuration key \"{key}\"");
            }
            if (check(value) is { } problem)
            {
                throw new BadRequestException($"Invalid project configuration key \"{key}\" value: {problem}");
            }
        }
        if (LxdBool.IsTrue(config.GetValueOrDefault("restricted")) && LxdBool.IsFalse(config.GetValueOrDefault("features.profiles")))
        {
            throw new BadRequestException("Projects without their own profiles cannot be restricted");
        }
    }

    /// <summary>One "&lt;uplink network&gt;:&lt;subnet&gt;" of restricted.networks.subnets, as text (LXD's format checks).</summary>
    private static string? SubnetSyntax(string item)
    {
        var parts = item.Split(':', 2);
        if (parts.Length != 2)
        {
            return $"Subnet \"{item}\" invalid, must be in the format of \"<uplink network>:<subnet>\"";
        }
        var cidr = parts[1].Split('/');
        if (cidr.Length != 2 || !System.Net.IPAddress.TryParse(cidr[0], out var address) || !int.TryParse(cidr[1], out var prefix)
            || prefix < 0 || prefix > (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128))
        {
            return $"invalid CIDR address: {parts[1]}";
        }
        // LXD wants the network address itself, no host bits set.
        return Networking.Subnets.Mask(address, prefix).Equals(address) ? null : $"Not an IP network address \"{parts[1]}\"";
    }

    /// <summary>
    /// LXD's projectValidateRestrictedSubnets: each uplink is a network of the default project and the subnet
    /// lies inside its <c>ipv4.routes</c>/<c>ipv6.routes</c> (bridges here have none, so only an uplink with routes passes).
    /// </summary>
    private async Task ValidateSubnetsAsync(Dictionary<string, string> config, CancellationToken ct)
    {
        if (config.GetValueOrDefault("restricted.networks.subnets") is not { Length: > 0 } value)
        {
            return;
        }
        foreach (var item in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var (uplink, subnet) = (item.Split(':', 2)[0], System.Net.IPNetwork.Parse(item.Split(':', 2)[1]));
            var n = await store.Networks.FindAsync(uplink, ct)
                ?? throw new BadRequestException($"Invalid project configuration key \"restricted.networks.subnets\" value: Invalid uplink network \"{uplink}\": Network not found");
            var routes = RouteKeys
                .SelectMany(k => n.Config.GetValueOrDefault(k, "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                .Select(r => System.Net.IPNetwork.TryParse(r, out var net) ? net : (System.Net.IPNetwork?)null)
                .OfType<System.Net.IPNetwork>();
            if (!routes.Any(r => r.BaseAddress.AddressFamily == subnet.BaseAddress.AddressFamily && r.PrefixLength <= subnet.PrefixLength && r.Contains(subnet.BaseAddress)))
            {
                throw new BadRequestException($"Invalid project configuration key \"restricted.networks.subnets\" value: Uplink network \"{uplink}\" doesn't contain \"{subnet}\" in its routes");
            }
        }
    }

    private static Dictionary<string, Validators.Check> BuildKeys()
    {
        Validators.Check boolean = v => v == "" || LxdBool.IsTrue(v) || LxdBool.IsFalse(v) ? null : "must be true or false";
        Validators.Check count = v => v == "" || uint.TryParse(v, out _) ? null : "must be a non-negative integer";
        Validators.Check size = v => v == "" || Validators.ParseSize(v) is not null ? null : "must be a size such as 512MiB or 2GB";
        Validators.Check any = _ => null;
        // LXD's IsListOf: comma-separated, each item trimmed and checked.
        Validators.Check listOf(Validators.Check item) => v => v == "" ? null : v.Split(',', StringSplitOptions.TrimEntries).Select(i => item(i)).FirstOrDefault(problem => problem is not null);
        Validators.Check oneOf(params string[] allowed) => v => v == "" || allowed.Contains(v) ? null : "must be one of " + string.Join(", ", allowed);
        var keys = new Dictionary<string, Validators.Check>(StringComparer.Ordinal)
        {
            ["backups.compression_algorithm"] = any,
            ["images.auto_update_cached"] = boolean,
            ["images.auto_update_interval"] = v => v == "" || long.TryParse(v, out _) ? null : "must be an integer",
            ["images.compression_algorithm"] = any,
            ["images.default_architecture"] = any,
            ["images.remote_cache_expiry"] = v => v == "" || long.TryParse(v, out _) ? null : "must be an integer",
            ["limits.instances"] = count,
            ["limits.containers"] = count,
            ["limits.virtual-machines"] = count,
            ["limits.memory"] = size,
            ["limits.processes"] = count,
            ["limits.cpu"] = count,
            ["limits.disk"] = size,
            ["limits.networks"] = count,
            ["restricted"] = boolean,
            ["restricted.containers.interception"] = oneOf("allow", "block", "full"),
            ["restricted.containers.privilege"] = oneOf("allow", "unprivileged", "isolated"),
            ["restricted.devices.nic"] = oneOf("allow", "block", "managed"),
            ["restricted.devices.disk"] = oneOf("allow", "block", "managed"),
            ["restricted.devices.disk.paths"] = listOf(v => v.StartsWith('/') ? null : "Must be absolute file path"),
            ["restricted.idmap.uid"] = listOf(v => ProjectPolicy.ParseIdRange(v) is null ? $"Invalid range \"{v}\": a number or START-END with START lower than END" : null),
            ["restricted.idmap.gid"] = listOf(v => ProjectPolicy.ParseIdRange(v) is null ? $"Invalid range \"{v}\": a number or START-END with START lower than END" : null),
            ["restricted.networks.access"] = any,
            ["restricted.networks.uplinks"] = any,
            ["restricted.networks.subnets"] = v => v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(SubnetSyntax).FirstOrDefault(problem => problem is not null),
            ["restricted.networks.zones"] = any,
            ["restricted.cluster.groups"] = any,
        };
        foreach (var f in Features)
        {
            keys[f] = boolean;
        }
        foreach (var k in new[] { "backups", "cluster.target", "containers.nesting", "containers.lowlevel", "virtual-machines.lowlevel", "devices.unix-char",
                     "devices.unix-block", "devices.unix-hotplug", "devices.infiniband", "devices.gpu", "devices.usb", "devices.pci", "devices.proxy", "snapshots" })
        {
            keys["restricted." + k] = oneOf("allow", "block");
        }
        return keys;
    }
}
