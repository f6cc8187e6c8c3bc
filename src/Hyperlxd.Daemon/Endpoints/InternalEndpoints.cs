using Hyperlxd.Core;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using Microsoft.AspNetCore.Builder;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary>Daemon-local calls (unix socket only): readiness for <c>hyperlxd waitready</c>.</summary>
public static class InternalEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/internal/ready", ctx =>
        {
            var daemon = ctx.Service<Daemon>();
            if (!Caller.IsUnixSocket(ctx))
            {
                throw new ForbiddenException();
            }
            return daemon.Ready ? Respond.Empty(ctx) : throw new TransientException("The daemon is still starting");
        });
    }
}
