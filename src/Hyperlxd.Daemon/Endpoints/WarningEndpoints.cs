using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Events;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using Hyperlxd.State;
using Hyperlxd.State.Repositories;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary>
/// <c>/1.0/warnings</c> (LXD 5.0.2's lxd/warnings.go): list (optionally of one <c>?project=</c>), show, set
/// the status to "acknowledged" or back to "new" (PUT and PATCH alike), delete. Admin-only, as LXD.
/// </summary>
public static class WarningEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/1.0/warnings", async ctx =>
        {
            var project = ctx.Request.Query["project"].ToString();
            var list = await ctx.Service<StateStore>().Warnings.ListAsync(project.Length > 0 ? project : null, ctx.RequestAborted);
            await Collection.Write(ctx, list.Select(ToApi), w => Url(w.Uuid), ApiJsonContext.Default.Warning, ApiJsonContext.Default.ListWarning);
        });
        app.MapGet("/1.0/warnings/{uuid}", async ctx =>
            await Respond.Sync(ctx, ToApi(await ctx.Service<StateStore>().Warnings.GetAsync(Uuid(ctx), ctx.RequestAborted)), ApiJsonContext.Default.Warning));
        app.MapPut("/1.0/warnings/{uuid}", UpdateAsync);
        app.MapPatch("/1.0/warnings/{uuid}", UpdateAsync);
        app.MapDelete("/1.0/warnings/{uuid}", async ctx =>
        {
            await ctx.Service<StateStore>().Warnings.DeleteAsync(Uuid(ctx), ctx.RequestAborted);
            Lifecycle(ctx, "warning-deleted");
            await Respond.Empty(ctx);
        });
    }

    private static async Task UpdateAsync(HttpContext ctx)
    {
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.WarningPut);
        var status = req.Status ?? "";
        if (status is not ("new" or "acknowledged" or "resolved"))
        {
            throw new BadRequestException($"Invalid warning status \"{status}\"");
        }
        if (status == "resolved")
        {
            throw new ForbiddenException("Status may only be set to \"acknowledged\" or \"new\"");
        }
        await ctx.Service<StateStore>().Warnings.UpdateStatusAsync(Uuid(ctx), status, ctx.RequestAborted);
        Lifecycle(ctx, status == "acknowledged" ? "warning-acknowledged" : "warning-reset");
        await Respond.Empty(ctx);
    }

    private static string Uuid(HttpContext ctx) => (string)ctx.Request.RouteValues["uuid"]!;

    private static string Url(string uuid) => "/1.0/warnings/" + Uri.EscapeDataString(uuid);

    private static void Lifecycle(HttpContext ctx, string action) =>
        ctx.Service<EventHub>().PublishLifecycle(action, Url(Uuid(ctx)), null, Caller.Of(ctx).Requestor);

    private static Warning ToApi(WarningRecord w) => new()
    {
        Uuid = w.Uuid,
        Project = w.Project,
        EntityUrl = w.EntityUrl,
        Type = w.Type,
        Severity = w.Severity,
        Status = w.Status,
        Count = w.Count,
        FirstSeenAt = w.FirstSeenAt,
        LastSeenAt = w.LastSeenAt,
        LastMessage = w.LastMessage,
    };
}
