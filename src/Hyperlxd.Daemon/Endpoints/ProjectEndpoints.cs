using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using Hyperlxd.Instances;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary>Only the <c>default</c> project exists; it owns every profile.</summary>
public static class ProjectEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/1.0/projects", async ctx =>
        {
            var profiles = ctx.Service<ProfileService>();
            // A restricted client sees only its own projects (as LXD filters them).
            var projects = Security.Caller.Of(ctx).CanAccessProject("default") ? new[] { await DefaultAsync(profiles, ctx.RequestAborted) } : Array.Empty<Project>();
            await Collection.Write(ctx, projects, p => "/1.0/projects/" + p.Name, ApiJsonContext.Default.Project, ApiJsonContext.Default.ListProject);
        });
        app.MapGet("/1.0/projects/{name}", async ctx =>
        {
            var profiles = ctx.Service<ProfileService>();
            if ((string?)ctx.Request.RouteValues["name"] != "default")
            {
                throw new NotFoundException("Project not found");
            }
            await Respond.Sync(ctx, await DefaultAsync(profiles, ctx.RequestAborted), ApiJsonContext.Default.Project);
        });
        app.MapPost("/1.0/projects", _ => throw new BadRequestException("Creating projects is not supported: only the \"default\" project exists"));
    }

    private static async Task<Project> DefaultAsync(ProfileService profiles, CancellationToken ct) => new()
    {
        Config = new()
        {
            ["features.images"] = "true",
            ["features.networks"] = "true",
            ["features.profiles"] = "true",
            ["features.storage.volumes"] = "true",
        },
        UsedBy = (await profiles.NamesAsync(ct)).Select(ProfileService.Url).ToList(),
    };
}
