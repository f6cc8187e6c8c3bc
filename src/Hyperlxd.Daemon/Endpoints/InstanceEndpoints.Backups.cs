using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Operations;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Instances;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

public static partial class InstanceEndpoints
{
    /// <summary><c>/1.0/instances/NAME/backups</c> and their export.</summary>
    private static void MapBackups(WebApplication app, string prefix)
    {
        app.MapGet(prefix + "/{name}/backups", async ctx =>
        {
            var instances = ctx.Service<InstanceManager>();
            var e = await LoadAsync(ctx);
            var backups = (await instances.ListBackupsAsync(e.Record.Name, ctx.RequestAborted)).Select(InstanceManager.RenderBackup);
            await Collection.Write(ctx, backups, b => UrlUnder(prefix, e.Record.Name, "/backups/" + b.Name), ApiJsonContext.Default.InstanceBackup, ApiJsonContext.Default.ListInstanceBackup);
        });
        app.MapPost(prefix + "/{name}/backups", async ctx =>
        {
            var operations = ctx.Service<OperationManager>();
            var instances = ctx.Service<InstanceManager>();
            var e = await LoadAsync(ctx);
            var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.InstanceBackupsPost);
            var name = e.Record.Name;
            await ctx.Service<Projects.ProjectPolicy>().CheckAllowedAsync(ProjectKeys.InstanceProject(name), "restricted.backups", "Backups", ctx.RequestAborted);
            await instances.CheckBackupRequestAsync(name, req, ctx.RequestAborted);
            var backup = string.IsNullOrEmpty(req.Name) ? await instances.NextBackupNameAsync(name, ctx.RequestAborted) : req.Name;
            var resources = Resources(name);
            resources["backups"] = new() { backup }; // lxc export reads the backup's name from here
            var op = operations.Start(OperationClass.Task, "Backing up instance",
                (_, ct) => instances.CreateBackupAsync(name, backup, req, ct), resources);
            await Respond.Async(ctx, op);
        });
        app.MapGet(prefix + "/{name}/backups/{backup}", async ctx =>
        {
            var e = await LoadAsync(ctx);
            var b = await ctx.Service<InstanceManager>().GetBackupAsync(e.Record.Name, Backup(ctx), ctx.RequestAborted);
            await Respond.Sync(ctx, InstanceManager.RenderBackup(b), ApiJsonContext.Default.InstanceBackup);
        });
        app.MapPost(prefix + "/{name}/backups/{backup}", async ctx =>
        {
            var operations = ctx.Service<OperationManager>();
            var instances = ctx.Service<InstanceManager>();
            var e = await LoadAsync(ctx);
            var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.InstanceBackupPost);
            InstanceManager.ValidateBackupName(req.Name);
            var (name, backup) = (e.Record.Name, Backup(ctx));
            await instances.GetBackupAsync(name, backup, ctx.RequestAborted);
            var op = operations.Start(OperationClass.Task, "Renaming instance backup",
                (_, ct) => instances.RenameBackupAsync(name, backup, req.Name, ct), Resources(name));
            await Respond.Async(ctx, op);
        });
        app.MapDelete(prefix + "/{name}/backups/{backup}", async ctx =>
        {
            var operations = ctx.Service<OperationManager>();
            var instances = ctx.Service<InstanceManager>();
            var e = await LoadAsync(ctx);
            var (name, backup) = (e.Record.Name, Backup(ctx));
            await instances.GetBackupAsync(name, backup, ctx.RequestAborted);
            var op = operations.Start(OperationClass.Task, "Deleting instance backup",
                (_, ct) => instances.DeleteBackupAsync(name, backup, ct), Resources(name));
            await Respond.Async(ctx, op);
        });
        app.MapGet(prefix + "/{name}/backups/{backup}/export", async ctx =>
        {
            var e = await LoadAsync(ctx);
            var path = await ctx.Service<InstanceManager>().BackupFileAsync(e.Record.Name, Backup(ctx), ctx.RequestAborted);
            await BackupFiles.SendAsync(ctx, path);
        });
    }

    private static string Backup(HttpContext ctx) => (string)ctx.Request.RouteValues["backup"]!;

    /// <summary>
    /// <c>lxc import</c>: the body is a backup tarball; <c>X-LXD-name</c> and <c>X-LXD-pool</c> override the
    /// name and pool its index gives. It is kept under the state dir and checked whole before the 202.
    /// </summary>
    private static async Task ImportAsync(HttpContext ctx, string prefix)
    {
        var instances = ctx.Service<InstanceManager>();
        var operations = ctx.Service<OperationManager>();
        var file = instances.NewUploadPath();
        var started = false;
        try
        {
            await BackupFiles.SaveUploadAsync(ctx, file, instances.UploadLimit());
            var headers = ctx.Request.Headers;
            var scope = ProjectScope.Of(ctx);
            var (record, source) = await instances.PrepareImportAsync(file, headers["X-LXD-name"].ToString(), headers["X-LXD-pool"].ToString(),
                scope.Name, scope.ProfileProject, ctx.RequestAborted);
            // As a create in the project: its limits and restrictions hold for what the tarball brings.
            await ctx.Service<Projects.ProjectPolicy>().CheckInstanceAsync(scope.Name, record, creating: true, ctx.RequestAborted);
            var op = operations.Start(OperationClass.Task, "Restoring backup", async (_, ct) =>
            {
                try
                {
                    await instances.CreateAsync(record, source, ct);
                }
                finally
                {
                    File.Delete(file);
                }
            }, Resources(record.Name));
            started = true;
            ctx.Response.Headers.Location = ProjectKeys.WithProject(prefix + "/" + ProjectKeys.InstanceName(record.Name), scope.Name);
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
}
