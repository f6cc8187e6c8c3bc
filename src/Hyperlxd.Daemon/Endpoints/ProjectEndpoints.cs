using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Operations;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Projects;
using Hyperlxd.Daemon.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary><c>/1.0/projects</c>: CRUD, PATCH, rename (an operation, as in LXD) and state, through the <see cref="ProjectService"/>.</summary>
public static class ProjectEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/1.0/projects", async ctx =>
        {
            var caller = Caller.Of(ctx);
            // A restricted client sees only its own projects (as LXD filters them).
            var projects = (await ctx.Service<ProjectService>().ListAsync(ctx.RequestAborted)).Where(p => caller.CanAccessProject(p.Name)).ToList();
            await Collection.Write(ctx, projects, p => ProjectService.Url(p.Name), ApiJsonContext.Default.Project, ApiJsonContext.Default.ListProject);
        });
        app.MapPost("/1.0/projects", async ctx =>
        {
            var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ProjectsPost);
            await ctx.Service<ProjectService>().CreateAsync(req, Caller.Of(ctx).Requestor, ctx.RequestAborted);
            ctx.Response.Headers.Location = ProjectService.Url(req.Name!);
            await Respond.Empty(ctx);
        });
        app.MapGet("/1.0/projects/{name}", async ctx =>
        {
            var p = await ctx.Service<ProjectService>().GetAsync(Name(ctx), ctx.RequestAborted);
            await Respond.Sync(ctx, p, ApiJsonContext.Default.Project, ProjectService.ETagOf(p));
        });
        app.MapPut("/1.0/projects/{name}", ctx => UpdateAsync(ctx, patch: false));
        app.MapPatch("/1.0/projects/{name}", ctx => UpdateAsync(ctx, patch: true));
        app.MapPost("/1.0/projects/{name}", async ctx =>
        {
            var projects = ctx.Service<ProjectService>();
            var name = Name(ctx);
            var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ProjectPost);
            await projects.PrepareRenameAsync(name, req.Name, ctx.RequestAborted);
            var requestor = Caller.Of(ctx).Requestor;
            var op = ctx.Service<OperationManager>().Start(OperationClass.Task, "Renaming project",
                (_, ct) => projects.RenameAsync(name, req.Name!, requestor, ct), new() { ["projects"] = new() { ProjectService.Url(name) } });
            await Respond.Async(ctx, op);
        });
        app.MapDelete("/1.0/projects/{name}", async ctx =>
        {
            await ctx.Service<ProjectService>().DeleteAsync(Name(ctx), Caller.Of(ctx).Requestor, ctx.RequestAborted);
            await Respond.Empty(ctx);
        });
        app.MapGet("/1.0/projects/{name}/state", async ctx =>
        {
            var state = await ctx.Service<ProjectService>().StateAsync(Name(ctx), ctx.RequestAborted);
            await Respond.Sync(ctx, state, ApiJsonContext.Default.ProjectState);
        });
    }

    private static string Name(HttpContext ctx) => (string)ctx.Request.RouteValues["name"]!;

    private static async Task UpdateAsync(HttpContext ctx, bool patch)
    {
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ProjectPut);
        await ctx.Service<ProjectService>().UpdateAsync(Name(ctx), req, patch, p => Collection.CheckETag(ctx, ProjectService.ETagOf(p)), Caller.Of(ctx).Requestor, ctx.RequestAborted);
        await Respond.Empty(ctx);
    }
}
