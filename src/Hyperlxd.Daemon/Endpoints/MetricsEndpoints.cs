using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Instances;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using Hyperlxd.Instances;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary>
/// <c>GET /1.0/metrics</c>: instance metrics in the Prometheus text format, as LXD 5.0.2 serves them
/// (lxd/api_metrics.go). Trusted clients and certificates of type "metrics" may read it; with
/// <c>core.metrics_authentication=false</c> anyone may.
/// </summary>
public static class MetricsEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/1.0/metrics", async ctx =>
        {
            var caller = Caller.Of(ctx);
            // ?project=P: that project's instances; none: every project's (LXD 5.0.2's metricsGet), each labelled with its own.
            var only = ctx.Request.Query["project"].ToString() is { Length: > 0 } p ? p : null;
            var builder = new MetricsText.Builder();
            foreach (var (key, type, metrics) in await ctx.Service<InstanceManager>().MetricsAsync(ctx.RequestAborted))
            {
                var (project, name) = ProjectKeys.SplitInstance(key);
                // A restricted certificate sees only its projects (LXD's allowProjectPermission); an open endpoint shows all.
                if ((only is null || only == project) && (!caller.Trusted || caller.CanAccessProject(project)))
                {
                    builder.AddInstance(name, project, type.ToApi(), metrics);
                }
            }
            ctx.Response.StatusCode = StatusCodes.Status200OK;
            ctx.Response.ContentType = "text/plain; version=0.0.4";
            await ctx.Response.WriteAsync(builder.ToString(), ctx.RequestAborted);
        });
    }

    public static bool IsMetricsRequest(HttpContext ctx) =>
        HttpMethods.IsGet(ctx.Request.Method) && (ctx.Request.Path.Value ?? "").TrimEnd('/') == "/1.0/metrics";

    public static bool AuthenticationRequired(HttpContext ctx) =>
        LxdBool.Get(ctx.Service<Daemon>().Config, ServerConfig.MetricsAuthentication, unset: true);
}
