using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Snapshots;
using Hyperlxd.State.Repositories;
using Hyperlxd.Storage;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Instances.Snapshots;

/// <summary>Whether a project lets snapshots be taken (LXD's AllowSnapshotCreation: <c>restricted.snapshots</c>).</summary>
public interface ISnapshotGate
{
    Task<bool> AllowsSnapshotsAsync(string project, CancellationToken ct);
}

/// <summary>What one tick did: snapshots deleted for expiry and snapshots taken on schedule ("instance/snap", "pool/volume/snap").</summary>
public sealed record SnapshotTickReport(List<string> Pruned, List<string> Created);

/// <summary>
/// LXD's minute tasks for snapshots (pruneExpiredInstanceSnapshotsTask, autoCreateInstanceSnapshotsTask and
/// their custom-volume twins) as one tick: expired snapshots are deleted, then every instance and custom
/// volume whose <c>snapshots.schedule</c> is due gets one, named by <c>snapshots.pattern</c> and expiring
/// after <c>snapshots.expiry</c>. Stopped instances only with <c>snapshots.schedule.stopped</c>. One
/// subject's failure is logged and does not stop the others. As LXD, nothing is taken on schedule in a project
/// whose restrictions block snapshots (<paramref name="gate"/>); expired ones are still pruned.
/// </summary>
public sealed class SnapshotScheduler(InstanceManager instances, StoragePools pools, SnapshotClock clock, EventHub events, ILogger<SnapshotScheduler> logger,
    ISnapshotGate? gate = null) : IDisposable
{
    private readonly SemaphoreSlim _tick = new(1, 1);

    public SnapshotClock Clock => clock;

    public void Dispose() => _tick.Dispose();

    public async Task<SnapshotTickReport> TickAsync(CancellationToken ct)
    {
        await _tick.WaitAsync(ct);
        try
        {
            var now = clock.GetLocalNow();
            var report = new SnapshotTickReport(new(), new());
            var allowed = new Dictionary<string, bool>(StringComparer.Ordinal);
            async Task<bool> AllowedAsync(string project) =>
                gate is null || (allowed.TryGetValue(project, out var yes) ? yes : allowed[project] = await gate.AllowsSnapshotsAsync(project, ct));
            await PruneAsync(now, report, ct);
            await ScheduleInstancesAsync(now, report, AllowedAsync, ct);
            await ScheduleVolumesAsync(now, report, AllowedAsync, ct);
            return report;
        }
        finally
        {
            _tick.Release();
        }
    }

    private async Task PruneAsync(DateTimeOffset now, SnapshotTickReport report, CancellationToken ct)
    {
        foreach (var (instance, snapshot) in await instances.ListExpiredSnapshotsAsync(now, ct))
        {
            await Quietly($"deleting expired snapshot {instance}/{snapshot}", async () =>
            {
                await instances.DeleteSnapshotAsync(instance, snapshot, ct);
                report.Pruned.Add($"{instance}/{snapshot}");
            });
        }
        foreach (var (pool, volume, snapshot) in await pools.ListExpiredSnapshotsAsync(now, ct))
        {
            await Quietly($"deleting expired snapshot {pool.Name}/{volume.Name}/{snapshot.Name}", async () =>
            {
                await pool.DeleteSnapshotAsync(volume, snapshot, ct);
                events.PublishLifecycle("storage-volume-snapshot-deleted", SnapshotUrl(pool, volume, snapshot.Name));
                report.Pruned.Add($"{pool.Name}/{volume.Name}/{snapshot.Name}");
            });
        }
    }

    /// <summary>Whatever the instance manager lists (its names are what it takes back): no assumption about how names are keyed.</summary>
    private async Task ScheduleInstancesAsync(DateTimeOffset now, SnapshotTickReport report, Func<string, Task<bool>> allowed, CancellationToken ct)
    {
        var all = await instances.ExpandAllAsync(await instances.ListAsync(ct), ct);
        foreach (var e in all)
        {
            var name = e.Record.Name;
            if (!SnapshotSchedule.IsDue(e.Config.GetValueOrDefault("snapshots.schedule"), SnapshotSchedule.IdOf(name), now)
                || !await allowed(ProjectKeys.InstanceProject(name)))
            {
                continue;
            }
            await Quietly($"taking the scheduled snapshot of {name}", async () =>
            {
                if (!LxdBool.IsTrue(e.Config.GetValueOrDefault("snapshots.schedule.stopped")) && !await instances.IsRunningAsync(e, ct))
                {
                    return;
                }
                var snapshot = await instances.SnapshotAsync(name, null, null, ct);
                report.Created.Add($"{name}/{snapshot}");
            });
        }
    }

    /// <summary>Custom volumes, each checked against the project its key names (default's, or one with features.storage.volumes).</summary>
    private async Task ScheduleVolumesAsync(DateTimeOffset now, SnapshotTickReport report, Func<string, Task<bool>> allowed, CancellationToken ct)
    {
        foreach (var pool in pools.All)
        {
            foreach (var v in await pool.ListVolumesAsync("custom", ct))
            {
                if (!SnapshotSchedule.IsDue(v.Config.GetValueOrDefault("snapshots.schedule"), v.Id, now) || !await allowed(ProjectKeys.SplitScoped(v.Name).Project))
                {
                    continue;
                }
                await Quietly($"taking the scheduled snapshot of volume {pool.Name}/{v.Name}", async () =>
                {
                    var existing = (await pool.ListSnapshotsAsync(v, ct)).Select(s => s.Name).ToList();
                    var name = SnapshotPattern.Next(v.Config.GetValueOrDefault("snapshots.pattern"), now, existing);
                    var expiry = SnapshotExpiry.From(now, v.Config.GetValueOrDefault("snapshots.expiry"));
                    await pool.CreateSnapshotAsync(v, name, expiry, ct);
                    events.PublishLifecycle("storage-volume-snapshot-created", SnapshotUrl(pool, v, name));
                    report.Created.Add($"{pool.Name}/{v.Name}/{name}");
                });
            }
        }
    }

    private static string SnapshotUrl(StoragePool pool, VolumeRecord v, string snapshot) =>
        ProjectKeys.VolumeUrl(pool.Name, v.Type, v.Name, "/snapshots/" + Uri.EscapeDataString(snapshot));

    private async Task Quietly(string what, Func<Task> work)
    {
        try
        {
            await work();
        }
        catch (Exception e) when (e is HyperlxdException or IOException or FormatException or InvalidOperationException)
        {
            logger.LogWarning("Snapshot task: {What} failed: {Error}", what, e.Message);
        }
    }
}
