using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Operations;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Instances;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

public static partial class InstanceEndpoints
{
    private static void MapSnapshots(WebApplication app, string prefix)
    {
        app.MapGet(prefix + "/{name}/snapshots", async ctx =>
        {
            var instances = ctx.Service<InstanceManager>();
            var e = await LoadAsync(ctx);
            var snaps = (await instances.ListSnapshotsAsync(e.Record.Name, ctx.RequestAborted)).Select(s => InstanceManager.RenderSnapshot(s, e));
            await Collection.Write(ctx, snaps, s => UrlUnder(prefix, e.Record.Name, "/snapshots/" + s.Name), ApiJsonContext.Default.InstanceSnapshot, ApiJsonContext.Default.ListInstanceSnapshot);
        });
        app.MapPost(prefix + "/{name}/snapshots", async ctx =>
        {
            var operations = ctx.Service<OperationManager>();
            var instances = ctx.Service<InstanceManager>();
            var e = await LoadAsync(ctx);
            var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.InstanceSnapshotsPost);
            if (req.Stateful)
            {
                throw new BadRequestException("Stateful snapshots are not supported");
            }
            if (!string.IsNullOrEmpty(req.Name))
            {
                Names.ValidateEntityName("snapshot", req.Name);
            }
            var name = e.Record.Name;
            await ctx.Service<Projects.ProjectPolicy>().CheckAllowedAsync(ProjectKeys.InstanceProject(name), "restricted.snapshots", "Snapshots", ctx.RequestAborted);
            var op = operations.Start(OperationClass.Task, "Snapshotting instance",
                async (_, ct) => await instances.SnapshotAsync(name, req.Name, req.ExpiresAt, ct), Resources(name));
            await Respond.Async(ctx, op);
        });
        app.MapGet(prefix + "/{name}/snapshots/{snapshot}", async ctx =>
        {
            var e = await LoadAsync(ctx);
            var s = await ctx.Service<InstanceManager>().GetSnapshotAsync(e.Record.Name, Snapshot(ctx), ctx.RequestAborted);
            await Respond.Sync(ctx, InstanceManager.RenderSnapshot(s, e), ApiJsonContext.Default.InstanceSnapshot);
        });
        app.MapPost(prefix + "/{name}/snapshots/{snapshot}", async ctx =>
        {
            var operations = ctx.Service<OperationManager>();
            var instances = ctx.Service<InstanceManager>();
            var e = await LoadAsync(ctx);
            var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.InstanceSnapshotPost);
            if (req.Migration || !string.IsNullOrEmpty(req.Target))
            {
                throw new BadRequestException("Snapshot migration is not supported");
            }
            Names.ValidateEntityName("snapshot", req.Name);
            var (name, snapshot) = (e.Record.Name, Snapshot(ctx));
            await instances.GetSnapshotAsync(name, snapshot, ctx.RequestAborted);
            var op = operations.Start(OperationClass.Task, "Renaming snapshot",
                (_, ct) => instances.RenameSnapshotAsync(name, snapshot, req.Name, ct), Resources(name));
            await Respond.Async(ctx, op);
        });
        app.MapDelete(prefix + "/{name}/snapshots/{snapshot}", async ctx =>
        {
            var operations = ctx.Service<OperationManager>();
            var instances = ctx.Service<InstanceManager>();
            var e = await LoadAsync(ctx);
            var (name, snapshot) = (e.Record.Name, Snapshot(ctx));
            await instances.GetSnapshotAsync(name, snapshot, ctx.RequestAborted);
            var op = operations.Start(OperationClass.Task, "Deleting snapshot",
                (_, ct) => instances.DeleteSnapshotAsync(name, snapshot, ct), Resources(name));
            await Respond.Async(ctx, op);
        });
    }

    private static string Snapshot(HttpContext ctx) => (string)ctx.Request.RouteValues["snapshot"]!;
}
