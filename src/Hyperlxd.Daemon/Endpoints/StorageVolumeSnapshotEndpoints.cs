using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Operations;
using Hyperlxd.Core.Snapshots;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using Hyperlxd.State.Repositories;
using Hyperlxd.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary>Volume snapshots: create, rename and delete run as operations (LXD 5.0.2); the request is checked before the operation starts.</summary>
public static class StorageVolumeSnapshotEndpoints
{
    private const string Base = "/1.0/storage-pools/{pool}/volumes/{type}/{name}/snapshots";

    public static void Map(WebApplication app)
    {
        app.MapGet(Base, async ctx =>
        {
            var (pool, v) = await StorageVolumeEndpoints.VolumeOf(ctx);
            var snaps = (await pool.ListSnapshotsAsync(v, ctx.RequestAborted)).Select(s => ToApi(v, s)).ToList();
            await Collection.Write(ctx, snaps, s => Url(pool.Name, v, s.Name), ApiJsonContext.Default.StorageVolumeSnapshot, ApiJsonContext.Default.ListStorageVolumeSnapshot);
        });
        app.MapPost(Base, async ctx =>
        {
            var operations = ctx.Service<OperationManager>();
            var events = ctx.Service<EventHub>();
            var (pool, v) = await StorageVolumeEndpoints.VolumeOf(ctx);
            await ctx.Service<Projects.ProjectPolicy>().CheckAllowedAsync(ProjectKeys.SplitScoped(v.Name).Project, "restricted.snapshots", "Snapshots", ctx.RequestAborted);
            var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.StorageVolumeSnapshotsPost);
            var name = req.Name is { Length: > 0 } n ? n : await NextNameAsync(pool, v, ctx.RequestAborted);
            Names.ValidateEntityName("snapshot", name);
            if ((await pool.ListSnapshotsAsync(v, ctx.RequestAborted)).Any(s => s.Name == name))
            {
                throw new ConflictException($"Snapshot \"{name}\" already exists");
            }
            // As LXD: no expires_at means the volume's snapshots.expiry from now; the zero time means none.
            DateTimeOffset? expiresAt;
            try
            {
                expiresAt = req.ExpiresAt is { } at ? SnapshotExpiry.Normalize(at)
                    : SnapshotExpiry.From(ctx.Service<SnapshotClock>().GetUtcNow(), v.Config.GetValueOrDefault("snapshots.expiry"));
            }
            catch (FormatException e)
            {
                throw new BadRequestException($"Invalid value for storage volume key \"snapshots.expiry\": {e.Message}");
            }
            var url = Url(pool.Name, v, name);
            var requestor = Caller.Of(ctx).Requestor;
            var op = operations.Start(OperationClass.Task, "Creating storage volume snapshot", async (_, ct) =>
            {
                await pool.CreateSnapshotAsync(v, name, expiresAt, ct);
                events.PublishLifecycle("storage-volume-snapshot-created", url, null, requestor);
            }, Resources(pool.Name, v, url));
            await Respond.Async(ctx, op);
        });
        app.MapGet(Base + "/{snap}", async ctx =>
        {
            var (_, v, s) = await SnapshotOf(ctx);
            await Respond.Sync(ctx, ToApi(v, s), ApiJsonContext.Default.StorageVolumeSnapshot);
        });
        app.MapPut(Base + "/{snap}", ctx => UpdateAsync(ctx, patch: false));
        app.MapPatch(Base + "/{snap}", ctx => UpdateAsync(ctx, patch: true));
        app.MapPost(Base + "/{snap}", async ctx =>
        {
            var operations = ctx.Service<OperationManager>();
            var events = ctx.Service<EventHub>();
            var (pool, v, s) = await SnapshotOf(ctx);
            var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.StorageVolumeSnapshotPost);
            if (req.Migration == true)
            {
                throw new BadRequestException("Snapshot migration is not supported");
            }
            Names.ValidateEntityName("snapshot", req.Name);
            if ((await pool.ListSnapshotsAsync(v, ctx.RequestAborted)).Any(x => x.Name == req.Name))
            {
                throw new ConflictException($"Snapshot \"{req.Name}\" already exists");
            }
            var requestor = Caller.Of(ctx).Requestor;
            var op = operations.Start(OperationClass.Task, "Renaming storage volume snapshot", async (_, ct) =>
            {
                await pool.RenameSnapshotAsync(v, s, req.Name!, ct);
                events.PublishLifecycle("storage-volume-snapshot-renamed", Url(pool.Name, v, req.Name!), new() { ["old_name"] = s.Name }, requestor);
            }, Resources(pool.Name, v, Url(pool.Name, v, s.Name)));
            await Respond.Async(ctx, op);
        });
        app.MapDelete(Base + "/{snap}", async ctx =>
        {
            var operations = ctx.Service<OperationManager>();
            var events = ctx.Service<EventHub>();
            var (pool, v, s) = await SnapshotOf(ctx);
            var url = Url(pool.Name, v, s.Name);
            var requestor = Caller.Of(ctx).Requestor;
            var op = operations.Start(OperationClass.Task, "Deleting storage volume snapshot", async (_, ct) =>
            {
                await pool.DeleteSnapshotAsync(v, s, ct);
                events.PublishLifecycle("storage-volume-snapshot-deleted", url, null, requestor);
            }, Resources(pool.Name, v, url));
            await Respond.Async(ctx, op);
        });
    }

    private static Dictionary<string, List<string>> Resources(string pool, VolumeRecord v, string snapshotUrl) => new()
    {
        ["storage_volumes"] = new() { StorageVolumeEndpoints.Url(pool, v.Type, v.Name) },
        ["storage_volume_snapshots"] = new() { snapshotUrl },
    };

    private static string Url(string pool, VolumeRecord v, string snap) =>
        ProjectKeys.VolumeUrl(pool, v.Type, v.Name, "/snapshots/" + Uri.EscapeDataString(snap));

    /// <summary>LXD's default names for a snapshot created without one: snap%d, one past the highest number taken (not the pattern: LXD 5.0.2 uses that for scheduled ones only).</summary>
    private static async Task<string> NextNameAsync(Storage.StoragePool pool, VolumeRecord v, CancellationToken ct) =>
        SnapshotNames.Next(SnapshotNames.DefaultPattern, (await pool.ListSnapshotsAsync(v, ct)).Select(s => s.Name).ToList());

    private static async Task<(Storage.StoragePool Pool, VolumeRecord Volume, VolumeSnapshotRecord Snapshot)> SnapshotOf(HttpContext ctx)
    {
        var (pool, v) = await StorageVolumeEndpoints.VolumeOf(ctx);
        var s = await pool.GetSnapshotAsync(v, (string)ctx.Request.RouteValues["snap"]!, ctx.RequestAborted);
        return (pool, v, s);
    }

    private static StorageVolumeSnapshot ToApi(VolumeRecord v, VolumeSnapshotRecord s) => new()
    {
        Name = s.Name,
        Description = s.Description,
        Config = s.Config,
        ContentType = v.ContentType,
        CreatedAt = s.CreatedAt,
        ExpiresAt = s.ExpiresAt ?? default,
    };

    /// <summary>
    /// LXD's snapshot PUT sets description and expiry as sent (no <c>expires_at</c>: none); PATCH starts from
    /// the current values. The zero time is "never" in both.
    /// </summary>
    private static async Task UpdateAsync(HttpContext ctx, bool patch)
    {
        var (pool, _, s) = await SnapshotOf(ctx);
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.StorageVolumeSnapshotPut);
        var description = req.Description ?? (patch ? s.Description : "");
        var expiresAt = req.ExpiresAt is { } at ? SnapshotExpiry.Normalize(at) : patch ? s.ExpiresAt : null;
        await pool.UpdateSnapshotAsync(s, description, expiresAt, ctx.RequestAborted);
        await Respond.Empty(ctx);
    }
}
