using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Query;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using Hyperlxd.Networking;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary>
/// <c>/1.0/networks</c>: managed bridges (create, update live, rename, delete; synchronous as in LXD 5.0.2)
/// and the namespace's other links, listed unmanaged and never modified; <c>/state</c> and <c>/leases</c>.
/// </summary>
public static class NetworkEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/1.0/networks", async ctx =>
        {
            var list = await ctx.Service<NetworkManager>().ListAsync(ctx.RequestAborted);
            await Collection.Write(ctx, list, n => NetworkManager.Url(n.Name), ApiJsonContext.Default.Network, ApiJsonContext.Default.ListNetwork);
        });
        app.MapPost("/1.0/networks", ctx => CreateAsync(ctx));
        app.MapGet("/1.0/networks/{name}", async ctx =>
        {
            var n = await ctx.Service<NetworkManager>().GetAsync(Name(ctx), ctx.RequestAborted);
            await Respond.Sync(ctx, n, ApiJsonContext.Default.Network, ETagOf(n));
        });
        app.MapPut("/1.0/networks/{name}", ctx => UpdateAsync(ctx, patch: false));
        app.MapPatch("/1.0/networks/{name}", ctx => UpdateAsync(ctx, patch: true));
        app.MapPost("/1.0/networks/{name}", ctx => RenameAsync(ctx));
        app.MapDelete("/1.0/networks/{name}", async ctx =>
        {
            var networks = ctx.Service<NetworkManager>();
            var name = Name(ctx);
            await RequireManagedAsync(networks, name, "deleted", ctx.RequestAborted);
            await networks.DeleteAsync(name, ctx.RequestAborted);
            Lifecycle(ctx, "network-deleted", name);
            await Respond.Empty(ctx);
        });
        app.MapGet("/1.0/networks/{name}/state", async ctx =>
        {
            var state = await ctx.Service<NetworkManager>().StateAsync(Name(ctx), ctx.RequestAborted);
            await Respond.Sync(ctx, state, ApiJsonContext.Default.NetworkLinkState);
        });
        app.MapGet("/1.0/networks/{name}/leases", async ctx =>
        {
            var networks = ctx.Service<NetworkManager>();
            var name = Name(ctx);
            await RequireManagedAsync(networks, name, "queried for leases", ctx.RequestAborted);
            await Respond.Sync(ctx, await networks.LeasesAsync(name, ctx.RequestAborted), ApiJsonContext.Default.ListNetworkLease);
        });
    }

    private static string Name(HttpContext ctx) => (string)ctx.Request.RouteValues["name"]!;

    private static string ETagOf(Network n) =>
        ETag.Compute(new NetworkPut { Description = n.Description, Config = n.Config }, ApiJsonContext.Default.NetworkPut);

    /// <summary>A host link that is not a managed network is never changed by the API: a 400 saying so (404 when there is no such link either).</summary>
    private static async Task RequireManagedAsync(NetworkManager networks, string name, string verb, CancellationToken ct)
    {
        var n = await networks.GetAsync(name, ct);
        if (!n.Managed)
        {
            throw new BadRequestException($"Network \"{name}\" is not a managed network and cannot be {verb}");
        }
    }

    private static async Task CreateAsync(HttpContext ctx)
    {
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.NetworksPost);
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
        await RequireManagedAsync(networks, name, "modified", ctx.RequestAborted);
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
        await RequireManagedAsync(networks, name, "renamed", ctx.RequestAborted);
        await networks.RenameAsync(name, req.Name, ctx.RequestAborted);
        Lifecycle(ctx, "network-renamed", req.Name!);
        ctx.Response.Headers.Location = NetworkManager.Url(req.Name!);
        await Respond.Empty(ctx);
    }

    private static void Lifecycle(HttpContext ctx, string action, string name) =>
        ctx.Service<EventHub>().PublishLifecycle(action, NetworkManager.Url(name), null, Caller.Of(ctx).Requestor);
}
