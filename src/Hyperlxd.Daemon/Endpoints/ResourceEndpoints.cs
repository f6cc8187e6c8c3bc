using Hyperlxd.Api;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Resources;
using Microsoft.AspNetCore.Builder;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary><c>GET /1.0/resources</c> (<c>lxc info --resources</c>): read afresh on each request, as LXD.</summary>
public static class ResourceEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/1.0/resources", ctx => Respond.Sync(ctx, new HostResources().Read(), ApiJsonContext.Default.Resources));
    }
}
