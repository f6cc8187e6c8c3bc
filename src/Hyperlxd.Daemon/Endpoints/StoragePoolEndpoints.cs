using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Query;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using StoragePools = Hyperlxd.Storage.StoragePools;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Pool = Hyperlxd.Storage.StoragePool;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary><c>/1.0/storage-pools</c>: CRUD (create and delete are synchronous, as in LXD 5.0.2), <c>used_by</c> and <c>/resources</c>.</summary>
public static class StoragePoolEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/1.0/storage-pools", async ctx =>
        {
            var pools = ctx.Service<StoragePools>();
            var list = new List<StoragePool>();
            foreach (var p in pools.All)
            {
                list.Add(await ToApiAsync(ctx.Service<StoragePools>(), p, ctx.RequestAborted));
            }
            await Collection.Write(ctx, list, p => Url(p.Name), ApiJsonContext.Default.StoragePool, ApiJsonContext.Default.ListStoragePool);
        });
        app.MapPost("/1.0/storage-pools", ctx => CreateAsync(ctx));
        app.MapGet("/1.0/storage-pools/{pool}", async ctx =>
        {
            var p = await ToApiAsync(ctx.Service<StoragePools>(), PoolOf(ctx), ctx.RequestAborted);
            await Respond.Sync(ctx, p, ApiJsonContext.Default.StoragePool, ETagOf(p));
        });
        app.MapPut("/1.0/storage-pools/{pool}", ctx => UpdateAsync(ctx, patch: false));
        app.MapPatch("/1.0/storage-pools/{pool}", ctx => UpdateAsync(ctx, patch: true));
        app.MapDelete("/1.0/storage-pools/{pool}", async ctx =>
        {
            var pools = ctx.Service<StoragePools>();
            var pool = PoolOf(ctx);
            await pools.DeleteAsync(pool, ctx.RequestAborted);
            Lifecycle(ctx, "storage-pool-deleted", pool.Name);
            await Respond.Empty(ctx);
        });
        app.MapGet("/1.0/storage-pools/{pool}/resources", async ctx =>
        {
            var r = await PoolOf(ctx).ResourcesAsync();
            await Respond.Sync(ctx, new StoragePoolResources
            {
                Space = new() { Total = r.SpaceTotal, Used = r.SpaceUsed },
                Inodes = new() { Total = r.InodesTotal, Used = r.InodesUsed },
            }, ApiJsonContext.Default.StoragePoolResources);
        });
    }

    internal static Pool PoolOf(HttpContext ctx) => ctx.Service<StoragePools>().Get((string)ctx.Request.RouteValues["pool"]!);

    internal static string Url(string name) => "/1.0/storage-pools/" + Uri.EscapeDataString(name);

    private static string ETagOf(StoragePool p) =>
        ETag.Compute(new StoragePoolPut { Description = p.Description, Config = p.Config }, ApiJsonContext.Default.StoragePoolPut);

    private static async Task<StoragePool> ToApiAsync(StoragePools pools, Pool p, CancellationToken ct) => new()
    {
        Name = p.Name,
        Driver = p.Record.Driver,
        Description = p.Record.Description,
        Config = new(p.Record.Config),
        UsedBy = await pools.UsedByAsync(p, ct),
    };

    private static async Task CreateAsync(HttpContext ctx)
    {
        var pools = ctx.Service<StoragePools>();
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.StoragePoolsPost);
        var pool = await pools.CreateAsync(req.Name, req.Driver, req.Description ?? "", req.Config ?? new(), ctx.RequestAborted);
        Lifecycle(ctx, "storage-pool-created", pool.Name);
        ctx.Response.Headers.Location = Url(pool.Name);
        await Respond.Empty(ctx);
    }

    /// <summary>PUT replaces description and config; PATCH merges. Only keys the driver allows to change may differ.</summary>
    private static async Task UpdateAsync(HttpContext ctx, bool patch)
    {
        var pools = ctx.Service<StoragePools>();
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.StoragePoolPut);
        var pool = PoolOf(ctx);
        var current = await ToApiAsync(ctx.Service<StoragePools>(), pool, ctx.RequestAborted);
        Collection.CheckETag(ctx, ETagOf(current));
        var config = patch ? new Dictionary<string, string>(pool.Record.Config) : req.Config ?? new();
        if (patch)
        {
            foreach (var (k, v) in req.Config ?? new())
            {
                config[k] = v;
            }
        }
        await pools.UpdateAsync(pool, req.Description ?? (patch ? pool.Record.Description : ""), config, ctx.RequestAborted);
        Lifecycle(ctx, "storage-pool-updated", pool.Name);
        await Respond.Empty(ctx);
    }

    private static void Lifecycle(HttpContext ctx, string action, string name) =>
        ctx.Service<EventHub>().PublishLifecycle(action, Url(name), null, Caller.Of(ctx).Requestor);
}
