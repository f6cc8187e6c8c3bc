using Hyperlxd.Core;
using Hyperlxd.Daemon.Endpoints;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Daemon.Hosting;

/// <summary>The request pipeline, identical on the unix socket and on HTTPS.</summary>
public static class ApiPipeline
{
    /// <param name="services">The daemon's container (the HTTPS apps have their own: requests resolve from this one).</param>
    public static void Configure(WebApplication app, IServiceProvider services)
    {
        var errors = services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ErrorMapper));
        app.Use((ctx, next) =>
        {
            DaemonServices.Attach(ctx, services);
            return next(ctx);
        });
        app.Use((ctx, next) => ErrorMapper.InvokeAsync(ctx, next, errors));
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(30) });
        app.Use(AuthenticateAsync);

        app.MapGet("/", ctx => Respond.Sync(ctx, new List<string> { "/1.0" }, Api.ApiJsonContext.Default.ListString));
        ServerEndpoints.Map(app);
        ProjectEndpoints.Map(app);
        ProfileEndpoints.Map(app);
        CertificateEndpoints.Map(app);
        OperationEndpoints.Map(app);
        InstanceEndpoints.Map(app);
        EventEndpoints.Map(app);
        ImageEndpoints.Map(app);
        InternalEndpoints.Map(app);
        StoragePoolEndpoints.Map(app);
        StorageVolumeEndpoints.Map(app);
        NetworkEndpoints.Map(app);
        ResourceEndpoints.Map(app);
        MetricsEndpoints.Map(app);
        WarningEndpoints.Map(app);
    }

    private static async Task AuthenticateAsync(HttpContext ctx, RequestDelegate next)
    {
        Caller caller;
        if (Caller.IsUnixSocket(ctx))
        {
            caller = new Caller(true, "unix", "root", null, "@");
        }
        else
        {
            var cert = ctx.Connection.ClientCertificate ?? await ctx.Connection.GetClientCertificateAsync(ctx.RequestAborted);
            var entry = cert is null ? null : await ctx.Service<TrustStore>().TrustedCertificateAsync(cert, ctx.RequestAborted);
            if (entry is { Type: not "client" } && !MetricsEndpoints.IsMetricsRequest(ctx))
            {
                entry = null; // LXD: a metrics certificate is trusted for GET /1.0/metrics and nothing else
            }
            caller = new Caller(entry is not null, "tls", cert is null ? "" : Fingerprints.Of(cert), cert,
                $"{ctx.Connection.RemoteIpAddress}:{ctx.Connection.RemotePort}",
                entry?.Restricted ?? false, entry?.Projects.ToList());
        }
        Caller.Set(ctx, caller);
        var path = ctx.Request.Path.Value ?? "/";
        if (!caller.Trusted && !(HttpMethods.IsGet(ctx.Request.Method) && path is "/" or "/1.0" or "/1.0/")
            && !(HttpMethods.IsPost(ctx.Request.Method) && path is "/1.0/certificates")
            && !(MetricsEndpoints.IsMetricsRequest(ctx) && !MetricsEndpoints.AuthenticationRequired(ctx)))
        {
            throw new ForbiddenException();
        }
        Authorization.Authorize(ctx, caller);
        if (caller.Trusted)
        {
            await ProjectScope.ResolveAsync(ctx);
        }
        await Authorization.CheckRestrictionsAsync(ctx, caller);
        await next(ctx);
    }
}
