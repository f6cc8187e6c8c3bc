using Hyperlxd.Api;
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
            var aliases = await images.ListAliasesAsync(ctx.RequestAborted);
            await Collection.Write(ctx, aliases, a => Url(a.Name!), ApiJsonContext.Default.ImageAliasesEntry, ApiJsonContext.Default.ListImageAliasesEntry);
        });
        app.MapPost("/1.0/images/aliases", async ctx =>
        {
            var images = ctx.Service<ImageStore>();
            var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ImageAliasesEntry);
            var entry = await images.CreateAliasAsync(req, ctx.RequestAborted);
            Lifecycle(ctx, "image-alias-created", entry.Name!);
            ctx.Response.Headers.Location = Url(entry.Name!);
            await Respond.Empty(ctx);
        });
        app.MapGet("/1.0/images/aliases/{name}", async ctx =>
        {
            var images = ctx.Service<ImageStore>();
            var a = await images.GetAliasAsync(Name(ctx), ctx.RequestAborted);
            await Respond.Sync(ctx, a, ApiJsonContext.Default.ImageAliasesEntry, ETagOf(a));
        });
        app.MapPut("/1.0/images/aliases/{name}", ctx => UpdateAsync(ctx, patch: false));
        app.MapPatch("/1.0/images/aliases/{name}", ctx => UpdateAsync(ctx, patch: true));
        app.MapPost("/1.0/images/aliases/{name}", async ctx =>
        {
            var images = ctx.Service<ImageStore>();
            var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ImageAliasesEntryPost);
            await images.RenameAliasAsync(Name(ctx), req.Name, ctx.RequestAborted);
            Lifecycle(ctx, "image-alias-renamed", req.Name!);
            ctx.Response.Headers.Location = Url(req.Name!);
            await Respond.Empty(ctx);
        });
        app.MapDelete("/1.0/images/aliases/{name}", async ctx =>
        {
            var images = ctx.Service<ImageStore>();
            await images.DeleteAliasAsync(Name(ctx), ctx.RequestAborted);
            Lifecycle(ctx, "image-alias-deleted", Name(ctx));
            await Respond.Empty(ctx);
        });
    }

    private static string Name(HttpContext ctx) => (string)ctx.Request.RouteValues["name"]!;

    private static string Url(string name) => "/1.0/images/aliases/" + Uri.EscapeDataString(name);

    private static string ETagOf(ImageAliasesEntry a) =>
        ETag.Compute(new ImageAliasesEntryPut { Description = a.Description, Target = a.Target }, ApiJsonContext.Default.ImageAliasesEntryPut);

    private static async Task UpdateAsync(HttpContext ctx, bool patch)
    {
        var images = ctx.Service<ImageStore>();
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ImageAliasesEntryPut);
        Collection.CheckETag(ctx, ETagOf(await images.GetAliasAsync(Name(ctx), ctx.RequestAborted)));
        await images.UpdateAliasAsync(Name(ctx), req, patch, ctx.RequestAborted);
        Lifecycle(ctx, "image-alias-updated", Name(ctx));
        await Respond.Empty(ctx);
    }

    private static void Lifecycle(HttpContext ctx, string action, string name) =>
        ctx.Service<EventHub>().PublishLifecycle(action, Url(name), null, Caller.Of(ctx).Requestor);
}
