using Hyperlxd.Api;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Instances;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

public static partial class InstanceEndpoints
{
    /// <summary><c>/1.0/instances/NAME/logs</c>: <c>lxc info --show-log</c> reads lxc.log (container) or qemu.log (VM).</summary>
    private static void MapLogs(WebApplication app, string prefix)
    {
        app.MapGet(prefix + "/{name}/logs", async ctx =>
        {
            var logs = await ctx.Service<InstanceManager>().ListLogsAsync(Name(ctx), ctx.RequestAborted);
            await Respond.Sync(ctx, logs.Select(f => $"{prefix}/{Name(ctx)}/logs/{f}").ToList(), ApiJsonContext.Default.ListString);
        });
        app.MapGet(prefix + "/{name}/logs/{file}", async ctx =>
        {
            var file = (string)ctx.Request.RouteValues["file"]!;
            var path = await ctx.Service<InstanceManager>().LogPathAsync(Name(ctx), file, ctx.RequestAborted);
            await Respond.File(ctx, path, file, "inline");
        });
        app.MapDelete(prefix + "/{name}/logs/{file}", async ctx =>
        {
            await ctx.Service<InstanceManager>().DeleteLogAsync(Name(ctx), (string)ctx.Request.RouteValues["file"]!, ctx.RequestAborted);
            await Respond.Empty(ctx);
        });
    }
}
