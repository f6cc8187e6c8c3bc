using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.State;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Http;

/// <summary>
/// The project a request works in (<c>?project=</c>, default "default"), resolved once per request,
/// and the keys its entities are stored under (<see cref="ProjectKeys"/>). Which project's profiles and
/// images apply follows the project's <c>features.*</c>, as in LXD.
/// </summary>
public sealed class ProjectScope
{
    private static readonly object Key = new();

    public ProjectScope(Project project, bool allProjects)
    {
        Project = project;
        AllProjects = allProjects;
    }

    public Project Project { get; }

    public string Name => Project.Name;

    public bool IsDefault => Name == ProjectKeys.Default;

    /// <summary><c>all-projects=true</c> on a list.</summary>
    public bool AllProjects { get; }

    public static bool Feature(Project p, string key) => p.Name == ProjectKeys.Default || p.Config.GetValueOrDefault(key) == "true";

    /// <summary>The project whose profiles this one uses (its own with <c>features.profiles</c>).</summary>
    public string ProfileProject => Feature(Project, "features.profiles") ? Name : ProjectKeys.Default;

    /// <summary>The project whose images this one uses (its own with <c>features.images</c>).</summary>
    public string ImageProject => Feature(Project, "features.images") ? Name : ProjectKeys.Default;

    /// <summary>The storage key of an instance a client names; a name no client can give (with '_') is not found.</summary>
    public string InstanceKey(string name)
    {
        if (name.Contains('_'))
        {
            throw new NotFoundException("Instance not found");
        }
        return ProjectKeys.Instance(Name, name);
    }

    /// <summary>Whether an instance key belongs to the request's project (or any, with all-projects).</summary>
    public bool Sees(string instanceKey) => AllProjects || ProjectKeys.InProject(instanceKey, Name);

    /// <summary>A profile's storage key; a name with '/' (no client's profile has one) is not found, so no key of another project is reachable.</summary>
    public string ProfileKey(string name) =>
        name.Contains('/') ? throw new NotFoundException("Profile not found") : ProjectKeys.Scoped(ProfileProject, name);

    public bool SeesProfile(string profileKey) => AllProjects || ProjectKeys.SplitScoped(profileKey).Project == ProfileProject;

    /// <summary>The project whose custom volumes this one uses (its own with <c>features.storage.volumes</c>).</summary>
    public string VolumeProject => ProjectKeys.VolumeProject(Name, Project.Config);

    /// <summary>
    /// The storage key of a volume a client names in a URL: a custom volume of <see cref="VolumeProject"/>, an
    /// instance's volume of this project, an image volume by fingerprint. A name with '/' is not found.
    /// </summary>
    public string VolumeKey(string type, string name) => type switch
    {
        _ when name.Contains('/') => throw new NotFoundException("Storage volume not found"),
        "custom" => ProjectKeys.Scoped(VolumeProject, name),
        "container" or "virtual-machine" => InstanceKey(name),
        _ => name,
    };

    /// <summary>A custom volume name a client gives for a new volume, checked before it becomes a key of <see cref="VolumeProject"/>.</summary>
    public string NewVolumeKey(string? name)
    {
        Names.ValidateEntityName("storage volume", name);
        return ProjectKeys.Scoped(VolumeProject, name!);
    }

    /// <summary>Whether a volume (by key) is listed in this project (every project's with all-projects).</summary>
    public bool SeesVolume(string type, string key) => AllProjects || type switch
    {
        "custom" => ProjectKeys.SplitScoped(key).Project == VolumeProject,
        "container" or "virtual-machine" => ProjectKeys.InProject(key, Name),
        _ => true,
    };

    public string AliasKey(string alias) =>
        alias.Contains('/') ? throw new NotFoundException("Image alias not found") : ProjectKeys.Scoped(ImageProject, alias);

    public bool SeesAlias(string aliasKey) => ProjectKeys.SplitScoped(aliasKey).Project == ImageProject;

    public string Url(string url) => ProjectKeys.WithProject(url, Name);

    /// <summary>Another project a request names (a copy's source project): one the caller may use, else a 403.</summary>
    public static async Task<ProjectScope> OtherAsync(HttpContext ctx, string project)
    {
        if (!Security.Caller.Of(ctx).CanAccessProject(project))
        {
            throw new ForbiddenException($"not authorized: this certificate cannot use project \"{project}\"");
        }
        var p = project == ProjectKeys.Default ? new Project { Name = ProjectKeys.Default }
            : await ctx.Service<StateStore>().Projects.FindAsync(project, ctx.RequestAborted) ?? throw new NotFoundException("Project not found");
        return new ProjectScope(p, false);
    }

    public static ProjectScope Of(HttpContext ctx) =>
        ctx.Items[Key] as ProjectScope ?? new ProjectScope(new Project { Name = ProjectKeys.Default }, false);

    /// <summary>Resolves the request's project: LXD answers 404 "Project not found" for an unknown one.</summary>
    public static async Task ResolveAsync(HttpContext ctx)
    {
        var all = ctx.Request.Query["all-projects"].ToString() == "true";
        var name = ctx.Request.Query["project"].ToString();
        if (name is "" or ProjectKeys.Default)
        {
            // The default project's features are all on; its limits are read where they are enforced.
            ctx.Items[Key] = new ProjectScope(new Project { Name = ProjectKeys.Default }, all);
            return;
        }
        var project = await ctx.Service<StateStore>().Projects.FindAsync(name, ctx.RequestAborted)
            ?? throw new NotFoundException("Project not found");
        ctx.Items[Key] = new ProjectScope(project, all);
    }
}
