using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Operations;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Instances;
using Hyperlxd.Instances.Backups;
using Hyperlxd.State.Repositories;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Pool = Hyperlxd.Storage.StoragePool;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary>
/// <c>/1.0/storage-pools/{pool}/volumes/custom/{name}/backups</c> (<c>custom_volume_backup</c>) and the import of
/// such a backup (<c>lxc storage volume import</c>: a POST of the tarball to the pool's custom volumes). Create,
/// rename, delete and import run as operations, checked before the 202 as LXD 5.0.2 does.
/// </summary>
public static class StorageVolumeBackupEndpoints
{
    private const string Base = "/1.0/storage-pools/{pool}/volumes/{type}/{name}/backups";

    public static void Map(WebApplication app)
    {
        app.MapGet(Base, async ctx =>
        {
            var (_, v) = await StorageVolumeEndpoints.VolumeOf(ctx);
            var backups = (await ctx.Service<VolumeBackups>().ListAsync(v, ctx.RequestAborted)).Select(VolumeBackups.Render);
            await Collection.Write(ctx, backups, b => VolumeBackups.Url(v, b.Name), ApiJsonContext.Default.StoragePoolVolumeBackup, ApiJsonContext.Default.ListStoragePoolVolumeBackup);
        });
        app.MapPost(Base, async ctx =>
        {
            var backups = ctx.Service<VolumeBackups>();
            var (pool, v) = await StorageVolumeEndpoints.VolumeOf(ctx);
            await ctx.Service<Projects.ProjectPolicy>().CheckAllowedAsync(ProjectKeys.SplitScoped(v.Name).Project, "restricted.backups", "Backups", ctx.RequestAborted);
            var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.StoragePoolVolumeBackupsPost);
            VolumeBackups.CheckRequest(v, req);
            var backup = string.IsNullOrEmpty(req.Name) ? await backups.NextNameAsync(v, ctx.RequestAborted) : req.Name;
            var resources = Resources(v);
            resources["backups"] = new() { backup }; // lxc storage volume export reads the backup's name from here
            var op = ctx.Service<OperationManager>().Start(OperationClass.Task, "Backing up storage volume",
                (_, ct) => backups.CreateAsync(pool, v, backup, req, ct), resources);
            await Respond.Async(ctx, op);
        });
        app.MapGet(Base + "/{backup}", async ctx =>
        {
            var (_, v) = await StorageVolumeEndpoints.VolumeOf(ctx);
            var b = await ctx.Service<VolumeBackups>().GetAsync(v, Backup(ctx), ctx.RequestAborted);
            await Respond.Sync(ctx, VolumeBackups.Render(b), ApiJsonContext.Default.StoragePoolVolumeBackup);
        });
        app.MapPost(Base + "/{backup}", async ctx =>
        {
            var backups = ctx.Service<VolumeBackups>();
            var (_, v) = await StorageVolumeEndpoints.VolumeOf(ctx);
            var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.InstanceBackupPost);
            Names.ValidateEntityName("backup", req.Name);
            var backup = Backup(ctx);
            await backups.GetAsync(v, backup, ctx.RequestAborted);
            var op = ctx.Service<OperationManager>().Start(OperationClass.Task, "Renaming storage volume backup",
                (_, ct) => backups.RenameAsync(v, backup, req.Name, ct), Resources(v));
            await Respond.Async(ctx, op);
        });
        app.MapDelete(Base + "/{backup}", async ctx =>
        {
            var backups = ctx.Service<VolumeBackups>();
            var (_, v) = await StorageVolumeEndpoints.VolumeOf(ctx);
            var backup = Backup(ctx);
            await backups.GetAsync(v, backup, ctx.RequestAborted);
            var op = ctx.Service<OperationManager>().Start(OperationClass.Task, "Deleting storage volume backup",
                (_, ct) => backups.DeleteAsync(v, backup, ct), Resources(v));
            await Respond.Async(ctx, op);
        });
        app.MapGet(Base + "/{backup}/export", async ctx =>
        {
            var (_, v) = await StorageVolumeEndpoints.VolumeOf(ctx);
            await BackupFiles.SendAsync(ctx, await ctx.Service<VolumeBackups>().FileAsync(v, Backup(ctx), ctx.RequestAborted));
        });
    }

    /// <summary>
    /// <c>lxc storage volume import POOL FILE [NAME]</c>: the body is the tarball, <c>X-LXD-name</c> overrides the
    /// volume name its index gives. It is kept under the state dir and checked whole before the 202.
    /// </summary>
    public static async Task ImportAsync(HttpContext ctx, Pool pool)
    {
        var instances = ctx.Service<InstanceManager>();
        var backups = ctx.Service<VolumeBackups>();
        var file = instances.NewUploadPath();
        var started = false;
        try
        {
            await BackupFiles.SaveUploadAsync(ctx, file, instances.UploadLimit());
            var plan = await backups.PrepareImportAsync(file, pool, ProjectScope.Of(ctx).VolumeProject, ctx.Request.Headers["X-LXD-name"].ToString(), ctx.RequestAborted);
            await ctx.Service<Projects.ProjectPolicy>().CheckVolumeAsync(pool.Name, plan.Name, plan.Volume.Config ?? new(), ctx.RequestAborted);
            var op = ctx.Service<OperationManager>().Start(OperationClass.Task, "Restoring custom volume backup", async (_, ct) =>
            {
                try
                {
                    await backups.ImportAsync(plan, ct);
                }
                finally
                {
                    File.Delete(file);
                }
            }, new() { ["storage_volumes"] = new() { StorageVolumeEndpoints.Url(pool.Name, "custom", plan.Name) } });
            started = true;
            await Respond.Async(ctx, op);
        }
        finally
        {
            if (!started)
            {
                File.Delete(file);
            }
        }
    }

    private static string Backup(HttpContext ctx) => (string)ctx.Request.RouteValues["backup"]!;

    private static Dictionary<string, List<string>> Resources(VolumeRecord v) => new()
    {
        ["storage_volumes"] = new() { StorageVolumeEndpoints.Url(v.Pool, v.Type, v.Name) },
    };
}
