using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Query;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using Hyperlxd.Images;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary><c>/1.0/images/aliases</c>: list, create, show, PUT/PATCH (retarget), POST (rename), delete.</summary>
public static class ImageAliasEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/1.0/images/aliases", async ctx =>
        {
            var images = ctx.Service<ImageStore>();
            var scope = ProjectScope.Of(ctx);
            var aliases = (await images.ListAliasesAsync(ctx.RequestAborted)).Where(a => scope.SeesAlias(a.Name!)).Select(Display).ToList();
            await Collection.Write(ctx, aliases, a => scope.Url(Url(a.Name!)), ApiJsonContext.Default.ImageAliasesEntry, ApiJsonContext.Default.ListImageAliasesEntry);
        });
        app.MapPost("/1.0/images/aliases", async ctx =>
        {
            var images = ctx.Service<ImageStore>();
            var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ImageAliasesEntry);
            var user = req.Name;
            req.Name = Key(ctx, req.Name);
            if (!string.IsNullOrEmpty(req.Target))
            {
                req.Target = await ImageEndpoints.ResolveInProjectAsync(ctx, req.Target);
            }
            var entry = await images.CreateAliasAsync(req, ctx.RequestAborted);
            Lifecycle(ctx, "image-alias-created", user!);
            ctx.Response.Headers.Location = ProjectScope.Of(ctx).Url(Url(user!));
            await Respond.Empty(ctx);
        });
        app.MapGet("/1.0/images/aliases/{name}", async ctx =>
        {
            var images = ctx.Service<ImageStore>();
            var a = Display(await images.GetAliasAsync(Name(ctx), ctx.RequestAborted));
            await Respond.Sync(ctx, a, ApiJsonContext.Default.ImageAliasesEntry, ETagOf(a));
        });
        app.MapPut("/1.0/images/aliases/{name}", ctx => UpdateAsync(ctx, patch: false));
        app.MapPatch("/1.0/images/aliases/{name}", ctx => UpdateAsync(ctx, patch: true));
        app.MapPost("/1.0/images/aliases/{name}", async ctx =>
        {
            var images = ctx.Service<ImageStore>();
            var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ImageAliasesEntryPost);
            await images.RenameAliasAsync(Name(ctx), Key(ctx, req.Name), ctx.RequestAborted);
            Lifecycle(ctx, "image-alias-renamed", req.Name!);
            ctx.Response.Headers.Location = ProjectScope.Of(ctx).Url(Url(req.Name!));
            await Respond.Empty(ctx);
        });
        app.MapDelete("/1.0/images/aliases/{name}", async ctx =>
        {
            var images = ctx.Service<ImageStore>();
            await images.DeleteAliasAsync(Name(ctx), ctx.RequestAborted);
            Lifecycle(ctx, "image-alias-deleted", (string)ctx.Request.RouteValues["name"]!);
            await Respond.Empty(ctx);
        });
    }

    /// <summary>The storage key of the route's alias in the request's project (<see cref="ProjectScope.AliasKey"/>).</summary>
    private static string Name(HttpContext ctx) => ProjectScope.Of(ctx).AliasKey((string)ctx.Request.RouteValues["name"]!);

    private static string? Key(HttpContext ctx, string? name)
    {
        ImageStore.ValidateUserAliasName(name);
        return ProjectScope.Of(ctx).AliasKey(name!);
    }

    private static ImageAliasesEntry Display(ImageAliasesEntry a)
    {
        a.Name = Core.ProjectKeys.SplitScoped(a.Name!).Name;
        return a;
    }

    private static string Url(string name) => "/1.0/images/aliases/" + Uri.EscapeDataString(name);

    private static string ETagOf(ImageAliasesEntry a) =>
        ETag.Compute(new ImageAliasesEntryPut { Description = a.Description, Target = a.Target }, ApiJsonContext.Default.ImageAliasesEntryPut);

    private static async Task UpdateAsync(HttpContext ctx, bool patch)
    {
        var images = ctx.Service<ImageStore>();
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ImageAliasesEntryPut);
        Collection.CheckETag(ctx, ETagOf(await images.GetAliasAsync(Name(ctx), ctx.RequestAborted)));
        if (!string.IsNullOrEmpty(req.Target))
        {
            req.Target = await ImageEndpoints.ResolveInProjectAsync(ctx, req.Target);
        }
        await images.UpdateAliasAsync(Name(ctx), req, patch, ctx.RequestAborted);
        Lifecycle(ctx, "image-alias-updated", (string)ctx.Request.RouteValues["name"]!);
        await Respond.Empty(ctx);
    }

    private static void Lifecycle(HttpContext ctx, string action, string name) =>
        ctx.Service<EventHub>().PublishLifecycle(action, ProjectScope.Of(ctx).Url(Url(name)), null, Caller.Of(ctx).Requestor);
}
