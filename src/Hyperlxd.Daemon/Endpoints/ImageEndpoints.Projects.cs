using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Projects;
using Hyperlxd.State;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary>
/// Images of projects with <c>features.images</c>: one stored image (by fingerprint) may belong to
/// several projects (<c>image_projects</c>; none listed: the default project's). A project sees only its
/// own images and aliases (stored as "project/alias"); deleting removes the image from the project and
/// the files only when no project holds it any more.
/// </summary>
public static partial class ImageEndpoints
{
    private static async Task<Func<string, bool>> VisibleAsync(HttpContext ctx)
    {
        var scope = ProjectScope.Of(ctx);
        var memberships = await ctx.Service<StateStore>().Projects.ImageProjectsAsync(ctx.RequestAborted);
        if (scope.AllProjects)
        {
            // Every project's images the caller may see (an image in no project's list is the default project's).
            return fp => memberships.TryGetValue(fp, out var projects) ? projects.Any(scope.Permitted) : scope.Permitted(ProjectKeys.Default);
        }
        var project = scope.ImageProject;
        return fp => ProjectService.ImageIn(memberships, fp, project);
    }

    /// <summary>The full fingerprint a (prefix of a) fingerprint names in the request's project, else 404.</summary>
    private static async Task<string> ResolveVisibleAsync(HttpContext ctx, string prefix)
    {
        var fp = await ctx.Service<Images.ImageStore>().ResolveAsync(prefix, ctx.RequestAborted);
        return (await VisibleAsync(ctx))(fp) ? fp : throw new NotFoundException("Image not found");
    }

    internal static Task<string> ResolveInProjectAsync(HttpContext ctx, string prefix) => ResolveVisibleAsync(ctx, prefix);

    /// <summary>The image as the request's project shows it: its own aliases, by their names.</summary>
    private static Image Display(HttpContext ctx, Image image)
    {
        var scope = ProjectScope.Of(ctx);
        image.Aliases = image.Aliases.Where(a => scope.SeesAlias(a.Name))
            .Select(a => new ImageAlias { Name = ProjectKeys.SplitScoped(a.Name).Name, Description = a.Description }).ToList();
        return image;
    }

    /// <summary>Alias names a client sends (checked as such: 400 naming a bad one) as storage keys.</summary>
    private static List<ImageAlias> AliasKeys(HttpContext ctx, List<ImageAlias>? aliases) =>
        (aliases ?? new()).Select(a =>
        {
            Images.ImageStore.ValidateUserAliasName(a.Name);
            return new ImageAlias { Name = ProjectScope.Of(ctx).AliasKey(a.Name), Description = a.Description };
        }).ToList();

    private static List<string>? ProfileKeys(HttpContext ctx, List<string>? profiles) =>
        profiles?.Select(ProjectScope.Of(ctx).ProfileKey).ToList();

    /// <summary>An upload of an image another project already holds adds it to this project (a duplicate here is a 409).</summary>
    private static Func<string, CancellationToken, Task<bool>> Adopt(StateStore store, string project) => async (fp, ct) =>
    {
        var memberships = await store.Projects.ImageProjectsAsync(ct);
        if (ProjectService.ImageIn(memberships, fp, project))
        {
            return false;
        }
        // Until now the default project's alone (no rows): it keeps it.
        await store.Projects.AddImageAsync(fp, memberships.ContainsKey(fp) ? [project] : [ProjectKeys.Default, project], ct);
        return true;
    };

    /// <summary>A new image belongs to the project it was made in (an image without rows is the default project's).</summary>
    private static async Task ClaimAsync(StateStore store, string project, string fp, CancellationToken ct)
    {
        var memberships = await store.Projects.ImageProjectsAsync(ct);
        if (!ProjectService.ImageIn(memberships, fp, project))
        {
            await store.Projects.AddImageAsync(fp, memberships.ContainsKey(fp) || project != ProjectKeys.Default ? [project] : [ProjectKeys.Default, project], ct);
        }
    }

    /// <summary>Takes the image out of the request's project; true when no project holds it any more (delete the files).</summary>
    private static async Task<bool> ReleaseAsync(HttpContext ctx, string fp)
    {
        var store = ctx.Service<StateStore>();
        var memberships = await store.Projects.ImageProjectsAsync(ctx.RequestAborted);
        if (!memberships.ContainsKey(fp))
        {
            return true;
        }
        var project = ProjectScope.Of(ctx).ImageProject;
        var left = await store.Projects.RemoveImageAsync(fp, project, ctx.RequestAborted);
        if (left.Count == 0)
        {
            return true;
        }
        // Its aliases in this project go with it.
        var images = ctx.Service<Images.ImageStore>();
        foreach (var alias in (await images.ListAliasesAsync(ctx.RequestAborted)).Where(a => a.Target == fp && ProjectKeys.SplitScoped(a.Name!).Project == project))
        {
            await images.DeleteAliasAsync(alias.Name!, ctx.RequestAborted);
        }
        return false;
    }
}
