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
    public static void Configure(WebApplication app, Daemon daemon)
    {
        var errors = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ErrorMapper));
        app.Use((ctx, next) => ErrorMapper.InvokeAsync(ctx, next, errors));
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(30) });
        app.Use((ctx, next) => AuthenticateAsync(ctx, next, daemon));

        app.MapGet("/", ctx => Respond.Sync(ctx, new List<string> { "/1.0" }, Api.ApiJsonContext.Default.ListString));
        ServerEndpoints.Map(app, daemon);
        ProjectEndpoints.Map(app, daemon);
        ProfileEndpoints.Map(app, daemon);
        CertificateEndpoints.Map(app, daemon);
        OperationEndpoints.Map(app, daemon);
        InstanceEndpoints.Map(app, daemon);
        EventEndpoints.Map(app, daemon);
        ImageEndpoints.Map(app, daemon);
        InternalEndpoints.Map(app, daemon);
        StoragePoolEndpoints.Map(app, daemon);
        StorageVolumeEndpoints.Map(app, daemon);
    }

    private static async Task AuthenticateAsync(HttpContext ctx, RequestDelegate next, Daemon daemon)
    {
        Caller caller;
        if (Caller.IsUnixSocket(ctx))
        {
            caller = new Caller(true, "unix", "root", null, "@");
        }
        else
        {
            var cert = ctx.Connection.ClientCertificate ?? await ctx.Connection.GetClientCertificateAsync(ctx.RequestAborted);
            var entry = cert is null ? null : await daemon.TrustedCertificateAsync(cert, ctx.RequestAborted);
            caller = new Caller(entry is not null, "tls", cert is null ? "" : Fingerprints.Of(cert), cert,
                $"{ctx.Connection.RemoteIpAddress}:{ctx.Connection.RemotePort}",
                entry?.Restricted ?? false, entry?.Projects.ToList());
        }
        Caller.Set(ctx, caller);
        var path = ctx.Request.Path.Value ?? "/";
        if (!caller.Trusted && !(HttpMethods.IsGet(ctx.Request.Method) && path is "/" or "/1.0" or "/1.0/")
            && !(HttpMethods.IsPost(ctx.Request.Method) && path is "/1.0/certificates"))
        {
            throw new ForbiddenException();
        }
        Authorization.Authorize(ctx, caller);
        if (ctx.Request.Query["project"].ToString() is { Length: > 0 } project && project != "default")
        {
            throw new NotFoundException($"Project \"{project}\" not found");
        }
        await Authorization.CheckRestrictionsAsync(ctx, caller, daemon);
        await next(ctx);
    }
}
