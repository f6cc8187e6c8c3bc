using System.Globalization;
using System.Text.Json;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Snapshots;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using Hyperlxd.Instances.Snapshots;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary>
/// Daemon-local calls (unix socket only): readiness for <c>hyperlxd waitready</c>; and, only in a daemon
/// started with <c>HYPERLXD_TEST_CLOCK=1</c>, the test clock that drives snapshot schedules and expiry.
/// </summary>
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
        // Read from the environment, not the container: the HTTPS listener maps these on a container of its own.
        if (SnapshotClock.FromEnvironment().Testing)
        {
            // PUT {"time": RFC 3339}: sets the clock, then runs one snapshot tick at that time and lists what it did.
            app.MapPut("/internal/testing/clock", async ctx =>
            {
                if (!Caller.IsUnixSocket(ctx))
                {
                    throw new ForbiddenException();
                }
                var scheduler = ctx.Service<SnapshotScheduler>();
                using var doc = await JsonDocument.ParseAsync(ctx.Request.Body, default, ctx.RequestAborted);
                if (!doc.RootElement.TryGetProperty("time", out var t) || t.ValueKind != JsonValueKind.String
                    || !DateTimeOffset.TryParse(t.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var time))
                {
                    throw new BadRequestException("\"time\" must be an RFC 3339 time");
                }
                scheduler.Clock.Set(time);
                var report = await scheduler.TickAsync(ctx.RequestAborted);
                var done = report.Pruned.Select(p => "pruned " + p).Concat(report.Created.Select(c => "created " + c)).ToList();
                await Respond.Sync(ctx, done, ApiJsonContext.Default.ListString);
            });
        }
    }
}
