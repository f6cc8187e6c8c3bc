using Hyperlxd.Api;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Projects;
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
            var scope = ProjectScope.Of(ctx);
            var profiles = (await ctx.Service<ProfileService>().ListAsync(ctx.RequestAborted)).Where(p => scope.SeesProfile(p.Name)).ToList();
            var urls = new Dictionary<Profile, string>(profiles.Select(p => KeyValuePair.Create(p, ProfileService.Url(p.Name))), ReferenceEqualityComparer.Instance);
            profiles.ForEach(Display);
            await Collection.Write(ctx, profiles, p => urls[p], ApiJsonContext.Default.Profile, ApiJsonContext.Default.ListProfile);
        });
        app.MapPost("/1.0/profiles", ctx => CreateAsync(ctx, ctx.Service<ProfileService>()));
        app.MapGet("/1.0/profiles/{name}", async ctx =>
        {
            var profiles = ctx.Service<ProfileService>();
            var p = await profiles.GetAsync(Name(ctx), ctx.RequestAborted);
            Display(p);
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

    /// <summary>The storage key of the route's profile in the request's project (<see cref="ProjectScope.ProfileKey"/>).</summary>
    private static string Name(HttpContext ctx) => ProjectScope.Of(ctx).ProfileKey((string)ctx.Request.RouteValues["name"]!);

    /// <summary>What a client sees: the profile's own name, never its storage key.</summary>
    private static void Display(Profile p) => p.Name = Core.ProjectKeys.SplitScoped(p.Name).Name;

    /// <summary>A profile name a client sends, checked as such (no '/'), as its storage key.</summary>
    private static string KeyOf(HttpContext ctx, string? name)
    {
        Core.Names.ValidateEntityName("profile", name);
        return ProjectScope.Of(ctx).ProfileKey(name!);
    }

    private static async Task CreateAsync(HttpContext ctx, ProfileService profiles)
    {
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ProfilesPost);
        req.Name = KeyOf(ctx, req.Name);
        // LXD checks a profile against its project's restrictions as it does an instance.
        await ctx.Service<ProjectPolicy>().CheckProfileAsync(req.Name, Core.Config.ConfigPatch.Set(req.Config), req.Devices ?? new(), ctx.RequestAborted);
        await profiles.CreateAsync(req, Caller.Of(ctx).Requestor, ctx.RequestAborted);
        ctx.Response.Headers.Location = ProfileService.Url(req.Name!);
        await Respond.Empty(ctx);
    }

    private static async Task UpdateAsync(HttpContext ctx, ProfileService profiles, bool patch)
    {
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ProfilePut);
        var current = await profiles.GetAsync(Name(ctx), ctx.RequestAborted, usedBy: false);
        await ctx.Service<ProjectPolicy>().CheckProfileAsync(Name(ctx), Core.Config.ConfigPatch.Config(current.Config, req.Config, patch),
            Core.Config.ConfigPatch.Devices(current.Devices, req.Devices, patch), ctx.RequestAborted);
        await profiles.UpdateAsync(Name(ctx), req, patch, p => Collection.CheckETag(ctx, ProfileService.ETagOf(p)), Caller.Of(ctx).Requestor, ctx.RequestAborted);
        await Respond.Empty(ctx);
    }

    private static async Task RenameAsync(HttpContext ctx, ProfileService profiles)
    {
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ProfilePost);
        req.Name = KeyOf(ctx, req.Name);
        await profiles.RenameAsync(Name(ctx), req.Name, Caller.Of(ctx).Requestor, ctx.RequestAborted);
        ctx.Response.Headers.Location = ProfileService.Url(req.Name!);
        await Respond.Empty(ctx);
    }
}
