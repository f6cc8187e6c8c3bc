using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Query;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Instances;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

public static partial class InstanceEndpoints
{
    /// <summary><c>/1.0/instances/NAME/metadata</c> and <c>/metadata/templates</c> (<c>lxc config metadata|template</c>).</summary>
    private static void MapMetadata(WebApplication app, string prefix)
    {
        app.MapGet(prefix + "/{name}/metadata", async ctx =>
        {
            var doc = await ctx.Service<InstanceManager>().GetMetadataAsync(Name(ctx), ctx.RequestAborted);
            await Respond.Sync(ctx, doc, ApiJsonContext.Default.ImageMetadataDoc, MetadataETag(doc));
        });
        app.MapPut(prefix + "/{name}/metadata", ctx => PutMetadataAsync(ctx, patch: false));
        app.MapPatch(prefix + "/{name}/metadata", ctx => PutMetadataAsync(ctx, patch: true));
        app.MapGet(prefix + "/{name}/metadata/templates", async ctx =>
        {
            var instances = ctx.Service<InstanceManager>();
            if (ctx.Request.Query["path"].ToString() is not { Length: > 0 } template)
            {
                await Respond.Sync(ctx, await instances.ListTemplatesAsync(Name(ctx), ctx.RequestAborted), ApiJsonContext.Default.ListString);
                return;
            }
            var content = await instances.GetTemplateAsync(Name(ctx), template, ctx.RequestAborted);
            ctx.Response.ContentType = "application/octet-stream";
            ctx.Response.Headers.ContentDisposition = "attachment; filename=" + template;
            await ctx.Response.WriteAsync(content, ctx.RequestAborted);
        });
        app.MapPost(prefix + "/{name}/metadata/templates", ctx => PutTemplateAsync(ctx));
        app.MapPut(prefix + "/{name}/metadata/templates", ctx => PutTemplateAsync(ctx));
        app.MapDelete(prefix + "/{name}/metadata/templates", async ctx =>
        {
            await ctx.Service<InstanceManager>().DeleteTemplateAsync(Name(ctx), TemplateName(ctx), ctx.RequestAborted);
            await Respond.Empty(ctx);
        });
    }

    private static string MetadataETag(ImageMetadataDoc doc) => ETag.Compute(doc, ApiJsonContext.Default.ImageMetadataDoc);

    /// <summary>PUT replaces the document; PATCH (as LXD) decodes the body over the current one.</summary>
    private static async Task PutMetadataAsync(HttpContext ctx, bool patch)
    {
        var instances = ctx.Service<InstanceManager>();
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ImageMetadataDoc);
        await instances.PutMetadataAsync(Name(ctx), req, current =>
        {
            Collection.CheckETag(ctx, MetadataETag(current));
            if (patch)
            {
                req.Architecture = req.Architecture.Length > 0 ? req.Architecture : current.Architecture;
                req.CreationDate = req.CreationDate != 0 ? req.CreationDate : current.CreationDate;
                req.ExpiryDate = req.ExpiryDate != 0 ? req.ExpiryDate : current.ExpiryDate;
                req.Properties ??= current.Properties;
                req.Templates ??= current.Templates;
            }
        }, ctx.RequestAborted);
        await Respond.Empty(ctx);
    }

    private static string TemplateName(HttpContext ctx) =>
        ctx.Request.Query["path"].ToString() is { Length: > 0 } p ? p : throw new BadRequestException("Missing \"path\" query parameter (the template name)");

    private static async Task PutTemplateAsync(HttpContext ctx)
    {
        await ctx.Service<InstanceManager>().PutTemplateAsync(Name(ctx), TemplateName(ctx), ctx.Request.Body, ctx.RequestAborted);
        await Respond.Empty(ctx);
    }
}
