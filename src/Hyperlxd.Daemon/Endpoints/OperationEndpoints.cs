using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Operations;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using Hyperlxd.Daemon.Websockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary><c>/1.0/operations</c>: list, show, cancel, wait and the websocket attach point.</summary>
public static class OperationEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/1.0/operations", ctx => ListAsync(ctx));
        app.MapGet("/1.0/operations/{id}", ctx =>
            Respond.Sync(ctx, Visible(ctx, ctx.Service<OperationManager>().Get(Id(ctx))).ToApi(), ApiJsonContext.Default.Operation));
        app.MapDelete("/1.0/operations/{id}", async ctx =>
        {
            var operations = ctx.Service<OperationManager>();
            await operations.CancelAsync(Visible(ctx, operations.Get(Id(ctx))).Id);
            await Respond.Empty(ctx);
        });
        app.MapGet("/1.0/operations/{id}/wait", async ctx =>
        {
            var operations = ctx.Service<OperationManager>();
            var op = Visible(ctx, operations.Get(Id(ctx)));
            var timeout = ctx.Request.Query["timeout"].ToString() switch
            {
                "" => Timeout.InfiniteTimeSpan,
                var t when int.TryParse(t, out var s) && s >= -1 => s < 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(s),
                var t => throw new BadRequestException($"Invalid value for \"timeout\": \"{t}\""),
            };
            await OperationManager.WaitAsync(op, timeout, ctx.RequestAborted);
            await Respond.Sync(ctx, op.ToApi(), ApiJsonContext.Default.Operation);
        });
        app.MapGet("/1.0/operations/{id}/websocket", async ctx =>
        {
            var operations = ctx.Service<OperationManager>();
            var sessions = ctx.Service<StreamSessions>();
            var op = operations.Get(Id(ctx));
            var session = sessions.Find(op.Id)
                ?? throw new BadRequestException(op.Class == OperationClass.Websocket ? "The operation's websockets are closed" : $"Operation {op.Id} is not a websocket operation");
            await session.ConnectAsync(ctx, ctx.Request.Query["secret"].ToString());
        });
    }

    private static string Id(HttpContext ctx) => (string)ctx.Request.RouteValues["id"]!;

    /// <summary>
    /// Certificate tokens carry their secret: only unrestricted clients see them (others get 404); a
    /// restricted client sees the operations of its projects (and those of no project) only.
    /// </summary>
    private static Core.Operations.Operation Visible(HttpContext ctx, Core.Operations.Operation op) =>
        (op.Class == OperationClass.Token && !Caller.Of(ctx).IsAdmin) || !InCallersProjects(ctx, op) ? throw new NotFoundException("Operation not found") : op;

    private static bool InCallersProjects(HttpContext ctx, Core.Operations.Operation op) =>
        op.Project is not { Length: > 0 } p || Caller.Of(ctx).CanAccessProject(p);

    /// <summary>The list's project filter (LXD's operationsGet): the request's project unless all-projects, and never another's project for a restricted client.</summary>
    private static bool Listed(HttpContext ctx, Core.Operations.Operation op)
    {
        var scope = ProjectScope.Of(ctx);
        return InCallersProjects(ctx, op) && (scope.AllProjects || op.Project is "" || op.Project == scope.Name);
    }

    /// <summary>Grouped by lowercase status name, URLs or (with recursion) objects, as LXD 5.0.2 answers.</summary>
    private static Task ListAsync(HttpContext ctx)
    {
        var operations = ctx.Service<OperationManager>();
        var admin = Caller.Of(ctx).IsAdmin;
        var ops = operations.List().Where(o => (admin || o.Class != OperationClass.Token) && Listed(ctx, o)).Select(o => o.ToApi()).GroupBy(o => o.Status.ToLowerInvariant());
        if (Collection.Recursion(ctx) == 0)
        {
            var urls = ops.ToDictionary(g => g.Key, g => (object?)g.Select(o => "/1.0/operations/" + o.Id).ToList());
            return Respond.Sync(ctx, urls, ApiJsonContext.Default.DictionaryStringObject);
        }
        return Respond.Sync(ctx, ops.ToDictionary(g => g.Key, g => g.ToList()), ApiJsonContext.Default.DictionaryStringListOperation);
    }
}
