using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Query;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Projects;
using Hyperlxd.Daemon.Security;
using Hyperlxd.Networking;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary>
/// <c>/1.0/networks</c>: managed bridges (create, update live, rename, delete; synchronous as in LXD 5.0.2)
/// and the namespace's other links, listed unmanaged and never modified; <c>/state</c> and <c>/leases</c>.
/// Per project as LXD 5.0.2 (lxd/networks.go): a project with <c>features.networks</c> sees only its own
/// networks (none here, see <see cref="ProjectPolicy.NetworkProject"/>), others the default project's; a
/// restricted project only those <see cref="ProjectPolicy.NetworkAllowed"/> lets it use (404 for the rest).
/// </summary>
public static class NetworkEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/1.0/networks", async ctx =>
        {
            var project = ProjectScope.Of(ctx).Project;
            var list = ProjectPolicy.NetworkProject(project) == ProjectKeys.Default
                ? await ctx.Service<NetworkManager>().ListAsync(ctx.RequestAborted)
                : new List<Network>();
            // LXD filters what the project may not use from the full objects (recursion) only.
            if (Collection.Recursion(ctx) > 0)
            {
                list = list.Where(n => ProjectPolicy.NetworkAllowed(project, n.Name, n.Managed)).ToList();
            }
            await Collection.Write(ctx, list, n => NetworkManager.Url(n.Name), ApiJsonContext.Default.Network, ApiJsonContext.Default.ListNetwork);
        });
        app.MapPost("/1.0/networks", ctx => CreateAsync(ctx));
        app.MapGet("/1.0/networks/{name}", async ctx =>
        {
            var n = await VisibleAsync(ctx, ctx.Service<NetworkManager>(), Name(ctx));
            await Respond.Sync(ctx, n, ApiJsonContext.Default.Network, ETagOf(n));
        });
        app.MapPut("/1.0/networks/{name}", ctx => UpdateAsync(ctx, patch: false));
        app.MapPatch("/1.0/networks/{name}", ctx => UpdateAsync(ctx, patch: true));
        app.MapPost("/1.0/networks/{name}", ctx => RenameAsync(ctx));
        app.MapDelete("/1.0/networks/{name}", async ctx =>
        {
            var networks = ctx.Service<NetworkManager>();
            var name = Name(ctx);
            await RequireManagedAsync(ctx, networks, name, "deleted");
            await networks.DeleteAsync(name, ctx.RequestAborted);
            Lifecycle(ctx, "network-deleted", name);
            await Respond.Empty(ctx);
        });
        app.MapGet("/1.0/networks/{name}/state", async ctx =>
        {
            await VisibleAsync(ctx, ctx.Service<NetworkManager>(), Name(ctx));
            var state = await ctx.Service<NetworkManager>().StateAsync(Name(ctx), ctx.RequestAborted);
            await Respond.Sync(ctx, state, ApiJsonContext.Default.NetworkLinkState);
        });
        app.MapGet("/1.0/networks/{name}/leases", async ctx =>
        {
            var networks = ctx.Service<NetworkManager>();
            var name = Name(ctx);
            await RequireManagedAsync(ctx, networks, name, "queried for leases");
            await Respond.Sync(ctx, await networks.LeasesAsync(name, ctx.RequestAborted), ApiJsonContext.Default.ListNetworkLease);
        });
    }

    private static string Name(HttpContext ctx) => (string)ctx.Request.RouteValues["name"]!;

    private static string ETagOf(Network n) =>
        ETag.Compute(new NetworkPut { Description = n.Description, Config = n.Config }, ApiJsonContext.Default.NetworkPut);

    /// <summary>A host link that is not a managed network is never changed by the API: a 400 saying so (404 when there is no such link either).</summary>
    private static async Task RequireManagedAsync(HttpContext ctx, NetworkManager networks, string name, string verb)
    {
        var n = await VisibleAsync(ctx, networks, name);
        if (!n.Managed)
        {
            throw new BadRequestException($"Network \"{name}\" is not a managed network and cannot be {verb}");
        }
    }

    /// <summary>The network as the request's project sees it: 404 "Network not found" when it is not in its network project or not allowed to it.</summary>
    private static async Task<Network> VisibleAsync(HttpContext ctx, NetworkManager networks, string name)
    {
        var project = ProjectScope.Of(ctx).Project;
        if (ProjectPolicy.NetworkProject(project) != ProjectKeys.Default)
        {
            throw new NotFoundException("Network not found");
        }
        var n = await networks.GetAsync(name, ctx.RequestAborted);
        return ProjectPolicy.NetworkAllowed(project, name, n.Managed) ? n : throw new NotFoundException("Network not found");
    }

    private static async Task CreateAsync(HttpContext ctx)
    {
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.NetworksPost);
        CheckProjectCreate(ctx, req);
        var n = await ctx.Service<NetworkManager>().CreateAsync(req.Name, req.Type, req.Description ?? "", req.Config ?? new(), ctx.RequestAborted);
        Lifecycle(ctx, "network-created", n.Name);
        ctx.Response.Headers.Location = NetworkManager.Url(n.Name);
        await Respond.Empty(ctx);
    }

    /// <summary>PUT replaces description and config; PATCH merges them. Applied to the bridge, rules and dnsmasq live.</summary>
    private static async Task UpdateAsync(HttpContext ctx, bool patch)
    {
        var networks = ctx.Service<NetworkManager>();
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.NetworkPut);
        var name = Name(ctx);
        await RequireManagedAsync(ctx, networks, name, "modified");
        var current = await networks.GetAsync(name, ctx.RequestAborted);
        Collection.CheckETag(ctx, ETagOf(current));
        var config = patch ? new Dictionary<string, string>(current.Config) : req.Config ?? new();
        if (patch)
        {
            foreach (var (k, v) in req.Config ?? new())
            {
                config[k] = v;
            }
        }
        await networks.UpdateAsync(name, req.Description ?? (patch ? current.Description : ""), config, ctx.RequestAborted);
        Lifecycle(ctx, "network-updated", name);
        await Respond.Empty(ctx);
    }

    private static async Task RenameAsync(HttpContext ctx)
    {
        var networks = ctx.Service<NetworkManager>();
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.NetworkPost);
        var name = Name(ctx);
        await RequireManagedAsync(ctx, networks, name, "renamed");
        await networks.RenameAsync(name, req.Name, ctx.RequestAborted);
        Lifecycle(ctx, "network-renamed", req.Name!);
        ctx.Response.Headers.Location = NetworkManager.Url(req.Name!);
        await Respond.Empty(ctx);
    }

    /// <summary>
    /// LXD's networksPost checks, in its order: the name, access from a restricted project (403), then in a
    /// project with its own networks the type (OVN by default; a bridge cannot live there) and limits.networks.
    /// </summary>
    private static void CheckProjectCreate(HttpContext ctx, NetworksPost req)
    {
        if (string.IsNullOrEmpty(req.Name))
        {
            throw new BadRequestException("No name provided");
        }
        var project = ProjectScope.Of(ctx).Project;
        if (!ProjectPolicy.NetworkAllowed(project, req.Name, managed: true))
        {
            throw new ForbiddenException($"Network not allowed in project (project restriction \"restricted.networks.access\" of project \"{project.Name}\")");
        }
        var networkProject = ProjectPolicy.NetworkProject(project);
        if (networkProject == ProjectKeys.Default)
        {
            return;
        }
        req.Type = string.IsNullOrEmpty(req.Type) ? "ovn" : req.Type;
        if (req.Type is "bridge" or "macvlan" or "sriov" or "physical")
        {
            throw new BadRequestException("Network type does not support non-default projects");
        }
        if (req.Type != "ovn")
        {
            throw new BadRequestException($"Unknown network type \"{req.Type}\"");
        }
        // A project with its own networks holds none here (no OVN), so any limit is measured against zero.
        if (project.Config.GetValueOrDefault("limits.networks") is { Length: > 0 } limit && int.TryParse(limit, out var max) && max <= 0)
        {
            throw new BadRequestException("Networks limit has been reached for project");
        }
        throw new BadRequestException($"Network type \"ovn\" is not supported (only \"bridge\", which does not support non-default projects): project \"{project.Name}\" has features.networks=true");
    }

    private static void Lifecycle(HttpContext ctx, string action, string name) =>
        ctx.Service<EventHub>().PublishLifecycle(action, NetworkManager.Url(name), null, Caller.Of(ctx).Requestor);
}
