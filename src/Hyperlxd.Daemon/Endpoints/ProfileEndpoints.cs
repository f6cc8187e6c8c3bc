using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Query;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary><c>/1.0/profiles</c>: CRUD, rename and PATCH; the <c>default</c> profile always exists.</summary>
public static class ProfileEndpoints
{
    private const string Default = "default";

    public static void Map(WebApplication app, Daemon daemon)
    {
        app.MapGet("/1.0/profiles", async ctx =>
        {
            var profiles = await WithUsedByAsync(daemon, await daemon.Store.Profiles.ListAsync(ctx.RequestAborted), ctx.RequestAborted);
            await Collection.Write(ctx, profiles, p => Url(p.Name), ApiJsonContext.Default.Profile, ApiJsonContext.Default.ListProfile);
        });
        app.MapPost("/1.0/profiles", ctx => CreateAsync(ctx, daemon));
        app.MapGet("/1.0/profiles/{name}", async ctx =>
        {
            var p = (await WithUsedByAsync(daemon, new List<Profile> { await daemon.Store.Profiles.GetAsync(Name(ctx), ctx.RequestAborted) }, ctx.RequestAborted))[0];
            await Respond.Sync(ctx, p, ApiJsonContext.Default.Profile, ETagOf(p));
        });
        app.MapPut("/1.0/profiles/{name}", ctx => UpdateAsync(ctx, daemon, patch: false));
        app.MapPatch("/1.0/profiles/{name}", ctx => UpdateAsync(ctx, daemon, patch: true));
        app.MapPost("/1.0/profiles/{name}", ctx => RenameAsync(ctx, daemon));
        app.MapDelete("/1.0/profiles/{name}", ctx => DeleteAsync(ctx, daemon));
    }

    private static string Name(HttpContext ctx) => (string)ctx.Request.RouteValues["name"]!;

    private static string Url(string name) => "/1.0/profiles/" + Uri.EscapeDataString(name);

    private static string ETagOf(Profile p) =>
        ETag.Compute(new ProfilePut { Description = p.Description, Config = p.Config, Devices = p.Devices }, ApiJsonContext.Default.ProfilePut);

    /// <summary>The keys a request sets: "" (or JSON null) is "unset", as LXD stores no empty value.</summary>
    private static Dictionary<string, string> Set(Dictionary<string, string>? config) =>
        (config ?? new()).Where(kv => kv.Value.Length > 0).ToDictionary();

    private static void Validate(Dictionary<string, string> config, Dictionary<string, Dictionary<string, string>> devices)
    {
        InstanceConfig.Validate(config, isProfile: true);
        DeviceTypes.Validate(devices);
    }

    private static async Task CreateAsync(HttpContext ctx, Daemon daemon)
    {
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ProfilesPost);
        Names.ValidateEntityName("profile", req.Name);
        var profile = new Profile
        {
            Name = req.Name!,
            Description = req.Description ?? "",
            Config = Set(req.Config),
            Devices = req.Devices ?? new(),
        };
        Validate(profile.Config, profile.Devices);
        await daemon.Store.Profiles.CreateAsync(profile, ctx.RequestAborted);
        Lifecycle(ctx, daemon, "profile-created", profile.Name);
        ctx.Response.Headers.Location = Url(profile.Name);
        await Respond.Empty(ctx);
    }

    /// <summary>PUT replaces the writable fields; PATCH merges config keys and devices into what is there.</summary>
    private static async Task UpdateAsync(HttpContext ctx, Daemon daemon, bool patch)
    {
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ProfilePut);
        var before = await daemon.Store.Profiles.GetAsync(Name(ctx), ctx.RequestAborted);
        await daemon.Store.Profiles.UpdateAsync(Name(ctx), p =>
        {
            Collection.CheckETag(ctx, ETagOf(p));
            if (patch)
            {
                foreach (var (k, v) in req.Config ?? new())
                {
                    if (v.Length == 0)
                    {
                        p.Config.Remove(k);
                    }
                    else
                    {
                        p.Config[k] = v;
                    }
                }
                foreach (var (k, v) in req.Devices ?? new())
                {
                    p.Devices[k] = v;
                }
                p.Description = req.Description ?? p.Description;
            }
            else
            {
                p.Config = Set(req.Config);
                p.Devices = req.Devices ?? new();
                p.Description = req.Description ?? "";
            }
            Validate(p.Config, p.Devices);
        }, ctx.RequestAborted);
        try
        {
            await daemon.Instances.ApplyProfileChangeAsync(before, ctx.RequestAborted);
        }
        catch
        {
            // The instances refused the change: the profile goes back to what it was.
            await daemon.Store.Profiles.UpdateAsync(before.Name, p =>
            {
                p.Config = before.Config;
                p.Devices = before.Devices;
                p.Description = before.Description;
            }, CancellationToken.None);
            throw;
        }
        Lifecycle(ctx, daemon, "profile-updated", Name(ctx));
        await Respond.Empty(ctx);
    }

    private static async Task RenameAsync(HttpContext ctx, Daemon daemon)
    {
        var name = Name(ctx);
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ProfilePost);
        if (name == Default)
        {
            throw new ForbiddenException("The \"default\" profile cannot be renamed");
        }
        Names.ValidateEntityName("profile", req.Name);
        await daemon.Store.Profiles.RenameAsync(name, req.Name!, ctx.RequestAborted);
        Lifecycle(ctx, daemon, "profile-renamed", req.Name!, new() { ["old_name"] = name });
        ctx.Response.Headers.Location = Url(req.Name!);
        await Respond.Empty(ctx);
    }

    private static async Task DeleteAsync(HttpContext ctx, Daemon daemon)
    {
        var name = Name(ctx);
        if (name == Default)
        {
            throw new ForbiddenException("The \"default\" profile cannot be deleted");
        }
        var users = await daemon.Store.Instances.UsingProfileAsync(name, ctx.RequestAborted);
        if (users.Count > 0)
        {
            throw new ConflictException($"Profile is currently in use by: {string.Join(", ", users.Select(InstanceEndpoints.Url))}");
        }
        await daemon.Store.Profiles.DeleteAsync(name, ctx.RequestAborted);
        Lifecycle(ctx, daemon, "profile-deleted", name);
        await Respond.Empty(ctx);
    }

    /// <summary>used_by: the instances that list the profile (one query for the whole collection).</summary>
    private static async Task<List<Profile>> WithUsedByAsync(Daemon daemon, List<Profile> profiles, CancellationToken ct)
    {
        var instances = await daemon.Store.Instances.ListAsync(ct);
        foreach (var p in profiles)
        {
            p.UsedBy = instances.Where(i => i.Profiles.Contains(p.Name)).Select(i => InstanceEndpoints.Url(i.Name)).ToList();
        }
        return profiles;
    }

    private static void Lifecycle(HttpContext ctx, Daemon daemon, string action, string name, Dictionary<string, object?>? context = null) =>
        daemon.Events.PublishLifecycle(action, Url(name), context, Caller.Of(ctx).Requestor);
}
