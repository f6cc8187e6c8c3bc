using Hyperlxd.Api;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using Hyperlxd.Instances;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary><c>/1.0/profiles</c>: CRUD, rename and PATCH, through the <see cref="ProfileService"/>.</summary>
public static class ProfileEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/1.0/profiles", async ctx =>
        {
            var profiles = await ctx.Service<ProfileService>().ListAsync(ctx.RequestAborted);
            await Collection.Write(ctx, profiles, p => ProfileService.Url(p.Name), ApiJsonContext.Default.Profile, ApiJsonContext.Default.ListProfile);
        });
        app.MapPost("/1.0/profiles", ctx => CreateAsync(ctx, ctx.Service<ProfileService>()));
        app.MapGet("/1.0/profiles/{name}", async ctx =>
        {
            var profiles = ctx.Service<ProfileService>();
            var p = await profiles.GetAsync(Name(ctx), ctx.RequestAborted);
            await Respond.Sync(ctx, p, ApiJsonContext.Default.Profile, ProfileService.ETagOf(p));
        });
        app.MapPut("/1.0/profiles/{name}", ctx => UpdateAsync(ctx, ctx.Service<ProfileService>(), patch: false));
        app.MapPatch("/1.0/profiles/{name}", ctx => UpdateAsync(ctx, ctx.Service<ProfileService>(), patch: true));
        app.MapPost("/1.0/profiles/{name}", ctx => RenameAsync(ctx, ctx.Service<ProfileService>()));
        app.MapDelete("/1.0/profiles/{name}", async ctx =>
        {
            var profiles = ctx.Service<ProfileService>();
            await profiles.DeleteAsync(Name(ctx), Caller.Of(ctx).Requestor, ctx.RequestAborted);
            await Respond.Empty(ctx);
        });
    }

    private static string Name(HttpContext ctx) => (string)ctx.Request.RouteValues["name"]!;

    private static async Task CreateAsync(HttpContext ctx, ProfileService profiles)
    {
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ProfilesPost);
        await profiles.CreateAsync(req, Caller.Of(ctx).Requestor, ctx.RequestAborted);
        ctx.Response.Headers.Location = ProfileService.Url(req.Name!);
        await Respond.Empty(ctx);
    }

    private static async Task UpdateAsync(HttpContext ctx, ProfileService profiles, bool patch)
    {
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ProfilePut);
        await profiles.UpdateAsync(Name(ctx), req, patch, p => Collection.CheckETag(ctx, ProfileService.ETagOf(p)), Caller.Of(ctx).Requestor, ctx.RequestAborted);
        await Respond.Empty(ctx);
    }

    private static async Task RenameAsync(HttpContext ctx, ProfileService profiles)
    {
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ProfilePost);
        await profiles.RenameAsync(Name(ctx), req.Name, Caller.Of(ctx).Requestor, ctx.RequestAborted);
        ctx.Response.Headers.Location = ProfileService.Url(req.Name!);
        await Respond.Empty(ctx);
    }
}
