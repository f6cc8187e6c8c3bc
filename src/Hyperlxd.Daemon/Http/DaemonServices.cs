using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Hyperlxd.Daemon.Http;

/// <summary>
/// The daemon's DI container for a request: the unix socket app's own, and the same one for the
/// HTTPS apps (which have their own small containers). Handlers resolve the services they take
/// here, per request: what needs the open database exists only once start-up has opened it.
/// </summary>
public static class DaemonServices
{
    private sealed record Feature(IServiceProvider Services);

    public static void Attach(HttpContext ctx, IServiceProvider services) => ctx.Features.Set(new Feature(services));

    public static T Service<T>(this HttpContext ctx) where T : notnull =>
        (ctx.Features.Get<Feature>()?.Services ?? ctx.RequestServices).GetRequiredService<T>();
}
