using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Operations;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Instances;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary>
/// <c>/1.0/instances</c>, and <c>/1.0/containers</c> as its alias whose list shows containers only
/// (pylxd 2.2.10 uses only the legacy path, for VMs too, as LXD 5.0.2 allows). Partial files: exec and console websockets, files, snapshots.
/// </summary>
public static partial class InstanceEndpoints
{
    private static readonly (string Prefix, InstanceType? Only)[] Prefixes = { ("/1.0/instances", null), ("/1.0/containers", InstanceType.Container) };

    public static void Map(WebApplication app)
    {
        foreach (var (prefix, only) in Prefixes)
        {
            app.MapGet(prefix, ctx => ListAsync(ctx, prefix, only));
            app.MapPost(prefix, ctx => CreateAsync(ctx, prefix));
            app.MapGet(prefix + "/{name}", ctx => GetAsync(ctx));
            app.MapPut(prefix + "/{name}", ctx => UpdateAsync(ctx, patch: false));
            app.MapPatch(prefix + "/{name}", ctx => UpdateAsync(ctx, patch: true));
            app.MapPost(prefix + "/{name}", ctx => RenameAsync(ctx));
            app.MapDelete(prefix + "/{name}", ctx => DeleteAsync(ctx));
            app.MapGet(prefix + "/{name}/state", ctx => GetStateAsync(ctx));
            app.MapPut(prefix + "/{name}/state", ctx => PutStateAsync(ctx));
            MapExec(app, prefix);
            MapConsole(app, prefix);
            MapFiles(app, prefix);
            MapSnapshots(app, prefix);
            MapBackups(app, prefix);
            MapMetadata(app, prefix);
            MapLogs(app, prefix);
        }
    }

    /// <summary>The storage key of the route's instance in the request's project (<see cref="ProjectScope"/>).</summary>
    private static string Name(HttpContext ctx) => ProjectScope.Of(ctx).InstanceKey((string)ctx.Request.RouteValues["name"]!);

    /// <summary>An instance's URL under <paramref name="prefix"/> as clients see it: its name, and its project's <c>?project=</c>.</summary>
    private static string UrlUnder(string prefix, string key, string suffix = "")
    {
        var (project, name) = ProjectKeys.SplitInstance(key);
        return ProjectKeys.WithProject(prefix + "/" + name + suffix, project);
    }

    public static string Url(string name) => InstanceManager.Url(name);

    private static Dictionary<string, List<string>> Resources(string name) => new() { ["instances"] = new() { Url(name) } };

    /// <summary>
    /// Loads an instance by name, whatever its type under either path: a path's type filters its list,
    /// not names (LXD 5.0.2 serves a VM under /1.0/containers too, pylxd 2.2.10's only path to one).
    /// </summary>
    private static async Task<InstanceManager.Expanded> LoadAsync(HttpContext ctx)
    {
        var instances = ctx.Service<InstanceManager>();
        return await instances.LoadAsync(Name(ctx), ctx.RequestAborted);
    }

    private static async Task ListAsync(HttpContext ctx, string prefix, InstanceType? only)
    {
        var instances = ctx.Service<InstanceManager>();
        var recursion = Collection.Recursion(ctx);
        var scope = ProjectScope.Of(ctx);
        if (scope.AllProjects && ctx.Request.Query["project"].ToString().Length > 0)
        {
            throw new BadRequestException("Cannot specify a project when requesting all projects"); // LXD 5.0.2's instancesGet
        }
        var records = (await instances.ListAsync(ctx.RequestAborted))
            .Where(r => (only is null || r.Type == only) && scope.Sees(r.Name)).ToList();
        var filter = Core.Query.ApiFilter.Parse(ctx.Request.Query["filter"]);
        if (recursion == 0 && filter is null)
        {
            await Respond.Sync(ctx, records.Select(r => UrlUnder(prefix, r.Name)).ToList(), ApiJsonContext.Default.ListString);
            return;
        }
        var rendered = new List<InstanceFull>();
        foreach (var e in await instances.ExpandAllAsync(records, ctx.RequestAborted))
        {
            rendered.Add(await instances.RenderAsync(e, recursion > 1, ctx.RequestAborted));
        }
        if (filter is not null)
        {
            rendered = rendered.Where(i => filter.Matches(System.Text.Json.JsonSerializer.SerializeToElement(i, ApiJsonContext.Default.InstanceFull))).ToList();
        }
        if (recursion == 0)
        {
            await Respond.Sync(ctx, rendered.Select(i => UrlUnder(prefix, ProjectKeys.Instance(i.Project, i.Name))).ToList(), ApiJsonContext.Default.ListString);
        }
        else if (recursion == 1)
        {
            await Respond.Sync(ctx, rendered.Select(i => (Instance)i).ToList(), ApiJsonContext.Default.ListInstance);
        }
        else
        {
            await Respond.Sync(ctx, rendered, ApiJsonContext.Default.ListInstanceFull);
        }
    }

    private static async Task CreateAsync(HttpContext ctx, string prefix)
    {
        if ((ctx.Request.ContentType ?? "").StartsWith("application/octet-stream", StringComparison.OrdinalIgnoreCase))
        {
            await ImportAsync(ctx, prefix); // lxc import: the body is a backup tarball
            return;
        }
        var instances = ctx.Service<InstanceManager>();
        var operations = ctx.Service<OperationManager>();
        // As in LXD 5.0.2, the legacy path only implies the default type (a container): an explicit
        // "virtual-machine" is honoured there, which is how pylxd 2.2.10 (containers only) makes a VM.
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.InstancesPost);
        await ScopeCreateAsync(ctx, req);
        var (record, source) = await instances.PrepareCreateAsync(req, ctx.RequestAborted);
        await CheckImageVisibleAsync(ctx, record);
        await ctx.Service<Projects.ProjectPolicy>().CheckInstanceAsync(ProjectScope.Of(ctx).Name, record, creating: true, ctx.RequestAborted);
        var op = operations.Start(OperationClass.Task, "Creating instance",
            (_, ct) => instances.CreateAsync(record, source, ct), Resources(record.Name));
        ctx.Response.Headers.Location = UrlUnder(prefix, record.Name);
        await Respond.Async(ctx, op);
    }

    private static async Task GetAsync(HttpContext ctx)
    {
        var instances = ctx.Service<InstanceManager>();
        var e = await LoadAsync(ctx);
        var full = Collection.Recursion(ctx) > 0;
        var instance = await instances.RenderAsync(e, full, ctx.RequestAborted);
        var etag = InstanceManager.ETagOf(e.Record);
        if (full)
        {
            await Respond.Sync(ctx, instance, ApiJsonContext.Default.InstanceFull, etag);
        }
        else
        {
            await Respond.Sync(ctx, (Instance)instance, ApiJsonContext.Default.Instance, etag);
        }
    }

    /// <summary>A PUT that names <c>restore</c> restores that snapshot and ignores the other fields (lxc restore sends them empty).</summary>
    private static async Task UpdateAsync(HttpContext ctx, bool patch)
    {
        var operations = ctx.Service<OperationManager>();
        var instances = ctx.Service<InstanceManager>();
        var e = await LoadAsync(ctx);
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.InstancePut);
        await ScopeUpdateAsync(ctx, e, req, patch);
        var name = e.Record.Name;
        Core.Operations.Operation op;
        if (!string.IsNullOrEmpty(req.Restore))
        {
            await instances.GetSnapshotAsync(name, req.Restore.Contains('/') ? req.Restore[(req.Restore.IndexOf('/') + 1)..] : req.Restore, ctx.RequestAborted);
            op = operations.Start(OperationClass.Task, "Restoring snapshot", (_, ct) => instances.RestoreAsync(name, req.Restore, ct), Resources(name));
        }
        else
        {
            // Validation and the ETag check happen before the 202, so that bad input is a 400/412 of the request itself.
            await instances.UpdateAsync(name, req, patch, r => Collection.CheckETag(ctx, InstanceManager.ETagOf(r)), ctx.RequestAborted);
            op = operations.Start(OperationClass.Task, "Updating instance", (_, _) => Task.CompletedTask, Resources(name));
        }
        await Respond.Async(ctx, op);
    }

    private static async Task RenameAsync(HttpContext ctx)
    {
        var operations = ctx.Service<OperationManager>();
        var instances = ctx.Service<InstanceManager>();
        var e = await LoadAsync(ctx);
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.InstancePost);
        var name = e.Record.Name;
        if (req.Migration && !string.IsNullOrEmpty(req.Pool) && string.IsNullOrEmpty(req.Target) && string.IsNullOrEmpty(req.Project))
        {
            // instance_pool_move (lxc move --storage): the name is optional, the instance keeps its own.
            var newName = string.IsNullOrEmpty(req.Name) ? name : req.Name;
            await instances.PrepareMoveToPoolAsync(name, newName, req.Pool, req.Live, ctx.RequestAborted);
            var move = operations.Start(OperationClass.Task, "Moving instance",
                (_, ct) => instances.MoveToPoolAsync(name, newName, req.Pool, req.InstanceOnly || req.ContainerOnly, ct), Resources(name));
            await Respond.Async(ctx, move);
            return;
        }
        if (req.Migration || !string.IsNullOrEmpty(req.Target) || !string.IsNullOrEmpty(req.Pool))
        {
            throw new BadRequestException("Migrating instances (to another server or project) is not supported");
        }
        Names.ValidateUserInstanceName(req.Name);
        req.Name = ProjectScope.Of(ctx).InstanceKey(req.Name!);
        var op = operations.Start(OperationClass.Task, "Renaming instance",
            (_, ct) => instances.RenameAsync(name, req.Name, ct), Resources(name));
        await Respond.Async(ctx, op);
    }

    private static async Task DeleteAsync(HttpContext ctx)
    {
        var instances = ctx.Service<InstanceManager>();
        var operations = ctx.Service<OperationManager>();
        var e = await LoadAsync(ctx);
        var name = e.Record.Name;
        if ((await instances.SafeStateAsync(e, ctx.RequestAborted)).Status is InstanceStatus.Running or InstanceStatus.Frozen)
        {
            throw new BadRequestException("The instance is running: stop it first or use --force");
        }
        var op = operations.Start(OperationClass.Task, "Deleting instance", (_, ct) => instances.DeleteAsync(name, ct), Resources(name));
        await Respond.Async(ctx, op);
    }

    private static async Task GetStateAsync(HttpContext ctx)
    {
        var instances = ctx.Service<InstanceManager>();
        var e = await LoadAsync(ctx);
        await Respond.Sync(ctx, InstanceManager.ToApiState(await instances.SafeStateAsync(e, ctx.RequestAborted)), ApiJsonContext.Default.InstanceState);
    }

    private static async Task PutStateAsync(HttpContext ctx)
    {
        var instances = ctx.Service<InstanceManager>();
        var operations = ctx.Service<OperationManager>();
        var e = await LoadAsync(ctx);
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.InstanceStatePut);
        if (req.Stateful)
        {
            throw new BadRequestException("Stateful stop/start (checkpoint/restore) is not supported");
        }
        if (req.Action is not ("start" or "stop" or "restart" or "freeze" or "unfreeze"))
        {
            throw new BadRequestException($"Unknown state action \"{req.Action}\": use start, stop, restart, freeze or unfreeze");
        }
        // Refuse obvious mismatches now (a 400 of the request, as lxc shows it), the rest in the operation.
        var status = (await instances.SafeStateAsync(e, ctx.RequestAborted)).Status;
        if (req.Action == "start" && status == InstanceStatus.Running)
        {
            throw new BadRequestException("The instance is already running");
        }
        if (req.Action == "stop" && status == InstanceStatus.Stopped)
        {
            throw new BadRequestException("The instance is already stopped");
        }
        if (req.Action is "start" or "restart")
        {
            // restricted.devices.disk.paths again at start: a symlink may have been swapped since the disk was added.
            await ctx.Service<Projects.ProjectPolicy>().CheckStartAsync(e, ctx.RequestAborted);
        }
        var name = e.Record.Name;
        var description = req.Action switch
        {
            "start" => "Starting instance",
            "stop" => "Stopping instance",
            "restart" => "Restarting instance",
            "freeze" => "Freezing instance",
            _ => "Unfreezing instance",
        };
        var op = operations.Start(OperationClass.Task, description, (_, ct) => instances.ChangeStateAsync(name, req, ct), Resources(name));
        await Respond.Async(ctx, op);
    }
}
