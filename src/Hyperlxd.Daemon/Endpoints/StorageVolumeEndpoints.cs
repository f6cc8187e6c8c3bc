using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Operations;
using Hyperlxd.Core.Query;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Projects;
using Hyperlxd.Daemon.Security;
using Hyperlxd.State;
using Hyperlxd.State.Repositories;
using Hyperlxd.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Pool = Hyperlxd.Storage.StoragePool;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary>
/// <c>/1.0/storage-pools/{pool}/volumes</c> as LXD 5.0.2 serves it: custom volume create, update,
/// rename and delete are synchronous; snapshot create, rename and delete are operations. Names in URLs
/// and bodies are the request project's (<see cref="ProjectScope.VolumeKey"/>): custom volumes those of
/// the project it uses for volumes, instance volumes its own instances'.
/// </summary>
public static class StorageVolumeEndpoints
{
    private const string Base = "/1.0/storage-pools/{pool}/volumes";

    public static void Map(WebApplication app)
    {
        app.MapGet(Base, ctx => ListAsync(ctx, null));
        app.MapGet(Base + "/{type}", ctx => ListAsync(ctx, (string)ctx.Request.RouteValues["type"]!));
        app.MapPost(Base, ctx => CreateAsync(ctx, null));
        app.MapPost(Base + "/{type}", ctx => CreateAsync(ctx, (string)ctx.Request.RouteValues["type"]!));
        app.MapGet(Base + "/{type}/{name}", async ctx =>
        {
            var (pool, v) = await VolumeOf(ctx);
            var api = await ToApiAsync(ctx.Service<StoragePools>(), pool, v, ctx.RequestAborted);
            await Respond.Sync(ctx, api, ApiJsonContext.Default.StorageVolume, ETagOf(v));
        });
        app.MapPut(Base + "/{type}/{name}", ctx => UpdateAsync(ctx, patch: false));
        app.MapPatch(Base + "/{type}/{name}", ctx => UpdateAsync(ctx, patch: true));
        app.MapPost(Base + "/{type}/{name}", ctx => RenameAsync(ctx));
        app.MapDelete(Base + "/{type}/{name}", ctx => DeleteAsync(ctx));
        StorageVolumeSnapshotEndpoints.Map(app);
        StorageVolumeBackupEndpoints.Map(app);
    }

    /// <summary>A volume's URL from its storage key (with <c>?project=</c> outside the default project).</summary>
    internal static string Url(string pool, string type, string key) => ProjectKeys.VolumeUrl(pool, type, key);

    internal static async Task<(Pool Pool, VolumeRecord Volume)> VolumeOf(HttpContext ctx)
    {
        var pool = StoragePoolEndpoints.PoolOf(ctx);
        var type = (string)ctx.Request.RouteValues["type"]!;
        Pool.ParseType(type);
        var key = ProjectScope.Of(ctx).VolumeKey(type, (string)ctx.Request.RouteValues["name"]!);
        var v = await pool.GetVolumeAsync(type, key, ctx.RequestAborted);
        return (pool, v);
    }

    /// <summary>(project, name) a client sees for a volume's storage key.</summary>
    internal static (string Project, string Name) Display(VolumeRecord v) => ProjectKeys.SplitVolume(v.Type, v.Name);

    private static string ETagOf(VolumeRecord v) =>
        ETag.Compute(new StorageVolumePut { Description = v.Description, Config = v.Config }, ApiJsonContext.Default.StorageVolumePut);

    private static async Task<StorageVolume> ToApiAsync(StoragePools pools, Pool pool, VolumeRecord v, CancellationToken ct) => new()
    {
        Name = Display(v).Name,
        Project = Display(v).Project,
        Type = v.Type,
        Description = v.Description,
        Config = v.Config,
        ContentType = v.ContentType,
        UsedBy = await pools.VolumeUsedByAsync(pool.Name, v, ct),
    };

    private static async Task ListAsync(HttpContext ctx, string? type)
    {
        var pool = StoragePoolEndpoints.PoolOf(ctx);
        if (type is not null)
        {
            Pool.ParseType(type);
        }
        var scope = ProjectScope.Of(ctx);
        // Image volumes are a cache of the images: listed where the image is (LXD's filterVolumes).
        var imageProjects = await ctx.Service<StateStore>().Projects.ImageProjectsAsync(ctx.RequestAborted);
        var list = new List<StorageVolume>();
        foreach (var v in await pool.ListVolumesAsync(type, ctx.RequestAborted))
        {
            if (!scope.SeesVolume(v.Type, v.Name) || (v.Type == "image" && !scope.AllProjects && !ProjectService.ImageIn(imageProjects, v.Name, scope.ImageProject)))
            {
                continue;
            }
            list.Add(await ToApiAsync(ctx.Service<StoragePools>(), pool, v, ctx.RequestAborted));
        }
        await Collection.Write(ctx, list, v => ProjectKeys.VolumeUrlOf(pool.Name, v.Type, v.Project, v.Name), ApiJsonContext.Default.StorageVolume, ApiJsonContext.Default.ListStorageVolume);
    }

    private static async Task CreateAsync(HttpContext ctx, string? routeType)
    {
        var pool = StoragePoolEndpoints.PoolOf(ctx);
        if (ctx.Request.ContentType == "application/octet-stream")
        {
            if (routeType is not (null or "custom"))
            {
                throw new BadRequestException($"Only custom volumes can be imported from a backup, not \"{routeType}\"");
            }
            await StorageVolumeBackupEndpoints.ImportAsync(ctx, pool);
            return;
        }
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.StorageVolumesPost);
        var type = routeType ?? req.Type ?? "custom";
        if (req.Type is { Length: > 0 } bodyType && bodyType != type)
        {
            throw new BadRequestException($"Volume type \"{bodyType}\" doesn't match the URL's \"{type}\"");
        }
        if (type != "custom")
        {
            throw new BadRequestException($"Only custom volumes can be created through the API, not \"{type}\"");
        }
        if (req.Source is { Name.Length: > 0 } source)
        {
            await CopyAsync(ctx, pool, req, source);
            return;
        }
        var key = ProjectScope.Of(ctx).NewVolumeKey(req.Name);
        await ctx.Service<ProjectPolicy>().CheckVolumeAsync(pool.Name, key, req.Config ?? new(), ctx.RequestAborted);
        var v = await pool.CreateVolumeAsync(Pool.ParseType(type), key, req.Description ?? "", req.Config ?? new(), req.ContentType ?? "filesystem", ctx.RequestAborted);
        Lifecycle(ctx, "storage-volume-created", Url(pool.Name, v.Type, v.Name));
        ctx.Response.Headers.Location = Url(pool.Name, v.Type, v.Name);
        await Respond.Empty(ctx);
    }

    /// <summary>
    /// <c>lxc storage volume copy</c>: a custom volume (or one of its snapshots, "VOLUME/SNAPSHOT") of this or another
    /// pool, with its snapshots unless <c>volume_only</c>. Checked before the 202; the copy runs as an operation.
    /// </summary>
    private static async Task CopyAsync(HttpContext ctx, Pool pool, StorageVolumesPost req, StorageVolumeSource source)
    {
        if (source.Type is not ("copy" or null or ""))
        {
            throw new BadRequestException($"Invalid source type \"{source.Type}\": only \"copy\" is supported (no migration)");
        }
        if (source.Refresh)
        {
            throw new BadRequestException("Refreshing a volume copy (lxc storage volume copy --refresh) is not supported");
        }
        var pools = ctx.Service<StoragePools>();
        var from = string.IsNullOrEmpty(source.Pool) ? pool : pools.TryGet(source.Pool) ?? throw new BadRequestException($"Storage pool \"{source.Pool}\" not found");
        var parts = source.Name!.Split('/');
        if (parts.Length > 2)
        {
            throw new BadRequestException($"Invalid source name \"{source.Name}\": a volume or VOLUME/SNAPSHOT");
        }
        // The source is a volume of the project the request (or source.project, --target-project's other side) uses for volumes.
        var sourceScope = string.IsNullOrEmpty(source.Project) ? ProjectScope.Of(ctx) : await ProjectScope.OtherAsync(ctx, source.Project);
        var v = await from.GetVolumeAsync("custom", sourceScope.VolumeKey("custom", parts[0]), ctx.RequestAborted);
        var snapshot = parts.Length == 2 ? (await from.GetSnapshotAsync(v, parts[1], ctx.RequestAborted)).Name : null;
        var name = ProjectScope.Of(ctx).NewVolumeKey(req.Name);
        var config = req.Config ?? new Dictionary<string, string>(v.Config);
        pool.ValidateVolumeConfig(Pool.WithoutVolatile(config));
        await ctx.Service<ProjectPolicy>().CheckVolumeAsync(pool.Name, name, config, ctx.RequestAborted);
        var url = Url(pool.Name, "custom", name);
        var requestor = Caller.Of(ctx).Requestor;
        var events = ctx.Service<EventHub>();
        var op = ctx.Service<OperationManager>().Start(OperationClass.Task, "Copying storage volume", async (_, ct) =>
        {
            await pool.CopyCustomVolumeAsync(from, v, snapshot, name, req.Description ?? v.Description, config, source.VolumeOnly, ct);
            events.PublishLifecycle("storage-volume-created", url, null, requestor);
        }, new() { ["storage_volumes"] = new() { url } });
        await Respond.Async(ctx, op);
    }

    /// <summary>PUT replaces description and config; PATCH merges; <c>restore</c> rolls the volume back to a snapshot.</summary>
    private static async Task UpdateAsync(HttpContext ctx, bool patch)
    {
        var (pool, v) = await VolumeOf(ctx);
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.StorageVolumePut);
        Collection.CheckETag(ctx, ETagOf(v));
        if (req.Restore is { Length: > 0 } snapshot)
        {
            await pool.RestoreSnapshotAsync(v, snapshot, ctx.RequestAborted);
            Lifecycle(ctx, "storage-volume-restored", Url(pool.Name, v.Type, v.Name));
            await Respond.Empty(ctx);
            return;
        }
        var config = patch ? new Dictionary<string, string>(v.Config) : req.Config ?? new();
        if (patch)
        {
            foreach (var (k, val) in req.Config ?? new())
            {
                config[k] = val;
            }
        }
        if (config.GetValueOrDefault("size", "") != v.Config.GetValueOrDefault("size", "") && v.Type == "custom")
        {
            await ctx.Service<ProjectPolicy>().CheckVolumeAsync(pool.Name, v.Name, config, ctx.RequestAborted);
        }
        await pool.UpdateVolumeAsync(v, req.Description ?? (patch ? v.Description : ""), config, ctx.RequestAborted);
        Lifecycle(ctx, "storage-volume-updated", Url(pool.Name, v.Type, v.Name));
        await Respond.Empty(ctx);
    }

    private static async Task RenameAsync(HttpContext ctx)
    {
        var pools = ctx.Service<StoragePools>();
        var (pool, v) = await VolumeOf(ctx);
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.StorageVolumePost);
        var target = req.Pool is { Length: > 0 } p && p != pool.Name ? pools.TryGet(p) ?? throw new BadRequestException($"Storage pool \"{p}\" not found") : null;
        if (req.Migration == true)
        {
            throw new BadRequestException("Volume migration is not supported");
        }
        if (v.Type != "custom")
        {
            throw new BadRequestException($"Volumes of type \"{v.Type}\" are renamed with their instance");
        }
        if ((await pools.VolumeUsedByAsync(pool.Name, v, ctx.RequestAborted)) is { Count: > 0 } users)
        {
            throw new ConflictException($"Volume is still in use by: {string.Join(", ", users)}");
        }
        // A project named in the body (lxc storage volume move --target-project) takes the volume there, as a move.
        var scope = string.IsNullOrEmpty(req.Project) || req.Project == ProjectScope.Of(ctx).Name ? ProjectScope.Of(ctx) : await ProjectScope.OtherAsync(ctx, req.Project);
        var moving = target is not null || scope != ProjectScope.Of(ctx);
        var newKey = scope.NewVolumeKey(string.IsNullOrEmpty(req.Name) && moving ? Display(v).Name : req.Name);
        if (moving)
        {
            await MoveAsync(ctx, pool, v, target ?? pool, newKey);
            return;
        }
        await pool.RenameVolumeAsync(v, newKey, ctx.RequestAborted);
        Lifecycle(ctx, "storage-volume-renamed", Url(pool.Name, v.Type, newKey), new() { ["old_name"] = Display(v).Name });
        ctx.Response.Headers.Location = Url(pool.Name, v.Type, newKey);
        await Respond.Empty(ctx);
    }

    /// <summary>
    /// <c>lxc storage volume move</c> to another pool (LXD's storagePoolVolumeTypePostMove): a copy with every snapshot,
    /// then the source and its backups are deleted; the copy is undone when it fails, the source kept.
    /// </summary>
    private static async Task MoveAsync(HttpContext ctx, Pool pool, VolumeRecord v, Pool target, string name)
    {
        if (ProjectKeys.SplitScoped(name).Project != ProjectKeys.SplitScoped(v.Name).Project)
        {
            await ctx.Service<ProjectPolicy>().CheckVolumeAsync(target.Name, name, v.Config, ctx.RequestAborted);
        }
        var backups = ctx.Service<Instances.Backups.VolumeBackups>();
        var events = ctx.Service<EventHub>();
        var requestor = Caller.Of(ctx).Requestor;
        var url = Url(target.Name, v.Type, name);
        var op = ctx.Service<OperationManager>().Start(OperationClass.Task, "Moving storage volume", async (_, ct) =>
        {
            var copy = await target.CopyCustomVolumeAsync(pool, v, null, name, v.Description, v.Config, volumeOnly: false, ct);
            try
            {
                await pool.DeleteVolumeAsync(v, ct);
            }
            catch
            {
                await target.DeleteVolumeAsync(copy, CancellationToken.None);
                throw;
            }
            backups.DeleteFiles(v);
            events.PublishLifecycle("storage-volume-moved", url, new() { ["old_name"] = Display(v).Name, ["old_pool"] = pool.Name, ["old_project"] = Display(v).Project }, requestor);
        }, new() { ["storage_volumes"] = new() { Url(pool.Name, v.Type, v.Name) } });
        await Respond.Async(ctx, op);
    }

    private static async Task DeleteAsync(HttpContext ctx)
    {
        var pools = ctx.Service<StoragePools>();
        var (pool, v) = await VolumeOf(ctx);
        if (v.Type != "custom")
        {
            throw new BadRequestException($"Storage volumes of type \"{v.Type}\" cannot be deleted with the storage API");
        }
        if ((await pools.VolumeUsedByAsync(pool.Name, v, ctx.RequestAborted)) is { Count: > 0 } users)
        {
            // LXD 5.0.2: a 400 (storagePoolVolumeDelete); the users named after its wording.
            throw new BadRequestException($"The storage volume is still in use by: {string.Join(", ", users)}");
        }
        await pool.DeleteVolumeAsync(v, ctx.RequestAborted);
        ctx.Service<Instances.Backups.VolumeBackups>().DeleteFiles(v);
        Lifecycle(ctx, "storage-volume-deleted", Url(pool.Name, v.Type, v.Name));
        await Respond.Empty(ctx);
    }

    internal static void Lifecycle(HttpContext ctx, string action, string url, Dictionary<string, object?>? context = null) =>
        ctx.Service<EventHub>().PublishLifecycle(action, url, context, Caller.Of(ctx).Requestor);
}
