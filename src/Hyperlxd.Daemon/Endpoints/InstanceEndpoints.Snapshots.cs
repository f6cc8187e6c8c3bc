using System.Globalization;
using System.Text.Json;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Operations;
using Hyperlxd.Core.Query;
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
            await Respond.Sync(ctx, InstanceManager.RenderSnapshot(s, e), ApiJsonContext.Default.InstanceSnapshot, SnapshotETag(s));
        });
        app.MapPut(prefix + "/{name}/snapshots/{snapshot}", ctx => UpdateSnapshotAsync(ctx));
        app.MapPatch(prefix + "/{name}/snapshots/{snapshot}", ctx => UpdateSnapshotAsync(ctx));
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

    /// <summary>
    /// PUT/PATCH of a snapshot (LXD's snapshotPut; PATCH is the same): <c>expires_at</c> is the one writable
    /// field — absent, nothing changes; the zero time removes the expiry. An operation, as in LXD.
    /// </summary>
    private static async Task UpdateSnapshotAsync(HttpContext ctx)
    {
        var operations = ctx.Service<OperationManager>();
        var instances = ctx.Service<InstanceManager>();
        var e = await LoadAsync(ctx);
        var (name, snapshot) = (e.Record.Name, Snapshot(ctx));
        var current = await instances.GetSnapshotAsync(name, snapshot, ctx.RequestAborted);
        Collection.CheckETag(ctx, SnapshotETag(current));
        JsonDocument doc;
        try
        {
            doc = await JsonDocument.ParseAsync(ctx.Request.Body, default, ctx.RequestAborted);
        }
        catch (JsonException ex)
        {
            throw new BadRequestException("Invalid JSON: " + ex.Message);
        }
        DateTimeOffset? expiresAt = null;
        var change = false;
        using (doc)
        {
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("expires_at", out var x) && x.ValueKind == JsonValueKind.String)
            {
                if (!DateTimeOffset.TryParse(x.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var at))
                {
                    throw new BadRequestException($"Invalid value for \"expires_at\": \"{x.GetString()}\" is not an RFC 3339 time");
                }
                (expiresAt, change) = (at, true);
            }
        }
        var op = operations.Start(OperationClass.Task, "Updating snapshot", async (_, ct) =>
        {
            if (change)
            {
                await instances.UpdateSnapshotExpiryAsync(name, snapshot, expiresAt, ct);
            }
        }, Resources(name));
        await Respond.Async(ctx, op);
    }

    /// <summary>LXD's snapshot ETag covers its expiry only (the one writable field).</summary>
    private static string SnapshotETag(State.Repositories.InstanceRecord s) =>
        ETag.Compute(new List<string> { (s.ExpiresAt ?? default).UtcDateTime.ToString("O", CultureInfo.InvariantCulture) }, ApiJsonContext.Default.ListString);

    private static string Snapshot(HttpContext ctx) => (string)ctx.Request.RouteValues["snapshot"]!;
}
