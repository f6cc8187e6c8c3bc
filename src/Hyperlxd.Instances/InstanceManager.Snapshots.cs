using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Snapshots;
using Hyperlxd.Instances.Snapshots;
using Hyperlxd.State.Repositories;

namespace Hyperlxd.Instances;

public sealed partial class InstanceManager
{
    private const string DiskIdmap = "volatile.last_state.idmap";

    public Task<List<InstanceRecord>> ListSnapshotsAsync(string name, CancellationToken ct) => Repo.ListSnapshotsAsync(name, ct);

    /// <summary>One snapshot of <paramref name="name"/> (404 when there is none).</summary>
    public Task<InstanceRecord> GetSnapshotAsync(string name, string snapshot, CancellationToken ct) => Repo.GetSnapshotAsync(name, snapshot, ct);

    /// <summary>Snapshots (instance, name) past their expiry at <paramref name="now"/>.</summary>
    public Task<List<(string Instance, string Name)>> ListExpiredSnapshotsAsync(DateTimeOffset now, CancellationToken ct) => Repo.ListExpiredSnapshotsAsync(now, ct);

    /// <summary>The time snapshot expiries, patterns and schedules are reckoned in (a test clock only under HYPERLXD_TEST_CLOCK).</summary>
    public TimeProvider Clock { get; set; } = TimeProvider.System;

    /// <summary>
    /// Snapshot of the root volume plus the instance's config at that moment. An empty name is the next one
    /// <c>snapshots.pattern</c> gives (default <c>snap%d</c>); a null <paramref name="expiresAt"/> means
    /// <c>snapshots.expiry</c> from now, the zero time (<c>lxc snapshot --no-expiry</c>) none — as LXD.
    /// </summary>
    public async Task<string> SnapshotAsync(string name, string? snapshot, DateTimeOffset? expiresAt, CancellationToken ct)
    {
        using var _ = await _locks.AcquireAsync(name, ct);
        return await SnapshotLockedAsync(await LoadAsync(name, ct), snapshot, expiresAt, ct);
    }

    private async Task<string> SnapshotLockedAsync(Expanded e, string? snapshot, DateTimeOffset? expiresAt, CancellationToken ct)
    {
        var name = e.Record.Name;
        var existing = (await Repo.ListSnapshotsAsync(name, ct)).Select(s => s.Name).ToHashSet();
        if (string.IsNullOrEmpty(snapshot))
        {
            snapshot = SnapshotPattern.Next(e.Config.GetValueOrDefault("snapshots.pattern"), Clock.GetLocalNow(), existing);
        }
        expiresAt = expiresAt is null ? ConfiguredExpiry(e.Config) : SnapshotExpiry.Normalize(expiresAt);
        ValidateSnapshotName(snapshot);
        if (existing.Contains(snapshot))
        {
            throw new ConflictException($"Snapshot \"{snapshot}\" already exists");
        }
        var pool = pools.Get(RootDisk.Find(e.Devices).Pool);
        await using var revert = new Reverter();
        await Repo.CreateSnapshotAsync(name, new InstanceRecord
        {
            Name = snapshot,
            Architecture = e.Record.Architecture,
            Config = e.Record.Config,
            Devices = e.Record.Devices,
            Profiles = e.Record.Profiles,
            Ephemeral = e.Record.Ephemeral,
            ExpiresAt = expiresAt,
        }, ct);
        revert.Add(() => Repo.DeleteSnapshotAsync(name, snapshot, CancellationToken.None));
        // The driver may quiesce the instance around the storage snapshot (a no-op for containers).
        var driver = DriverOf(e);
        var spec = SpecOf(e);
        await driver.BeforeSnapshotAsync(spec, ct);
        try
        {
            await pool.CreateInstanceSnapshotAsync(name, e.Record.Type, snapshot, ct);
        }
        finally
        {
            await driver.AfterSnapshotAsync(spec, CancellationToken.None);
        }
        revert.Success();
        Lifecycle("instance-snapshot-created", $"{name}/snapshots/{snapshot}");
        return snapshot;
    }

    public async Task DeleteSnapshotAsync(string name, string snapshot, CancellationToken ct)
    {
        using var _ = await _locks.AcquireAsync(name, ct);
        var e = await LoadAsync(name, ct);
        await Repo.GetSnapshotAsync(name, snapshot, ct);
        await pools.Get(RootDisk.Find(e.Devices).Pool).DeleteInstanceSnapshotAsync(name, e.Record.Type, snapshot, ct);
        await Repo.DeleteSnapshotAsync(name, snapshot, ct);
        Lifecycle("instance-snapshot-deleted", $"{name}/snapshots/{snapshot}");
    }

    public async Task RenameSnapshotAsync(string name, string snapshot, string? newName, CancellationToken ct)
    {
        ValidateSnapshotName(newName);
        using var _ = await _locks.AcquireAsync(name, ct);
        var e = await LoadAsync(name, ct);
        await Repo.GetSnapshotAsync(name, snapshot, ct);
        var pool = pools.Get(RootDisk.Find(e.Devices).Pool);
        await using var revert = new Reverter();
        await Repo.RenameSnapshotAsync(name, snapshot, newName!, ct);
        revert.Add(() => Repo.RenameSnapshotAsync(name, newName!, snapshot, CancellationToken.None));
        await pool.RenameInstanceSnapshotAsync(name, e.Record.Type, snapshot, newName!, ct);
        revert.Success();
        Lifecycle("instance-snapshot-renamed", $"{name}/snapshots/{newName}", new() { ["old_name"] = snapshot });
    }

    /// <summary>
    /// Restores the root volume and the config the snapshot recorded. A running instance is
    /// stopped for the restore and started again, as LXD does.
    /// </summary>
    public async Task RestoreAsync(string name, string restore, CancellationToken ct)
    {
        var snapshot = restore.Contains('/') ? restore[(restore.IndexOf('/') + 1)..] : restore;
        if (restore.Contains('/') && restore[..restore.IndexOf('/')] != name)
        {
            throw new BadRequestException($"Snapshot \"{restore}\" belongs to another instance");
        }
        using var _ = await _locks.AcquireAsync(name, ct);
        var e = await LoadAsync(name, ct);
        var snap = await Repo.GetSnapshotAsync(name, snapshot, ct);
        var driver = DriverOf(e);
        var wasRunning = (await driver.GetStateAsync(SpecOf(e), ct)).Status != InstanceStatus.Stopped;
        if (wasRunning)
        {
            await driver.StopAsync(SpecOf(e), force: true, TimeSpan.Zero, ct);
            await CleanupAsync(e, ct);
        }
        await pools.Get(RootDisk.Find(e.Devices).Pool).RestoreInstanceSnapshotAsync(name, e.Record.Type, snapshot, ct);
        var volatileKeys = e.Record.Config.Where(kv => kv.Key.StartsWith("volatile.", StringComparison.Ordinal)).ToList();
        await Repo.UpdateAsync(name, r =>
        {
            r.Config = snap.Config.Where(kv => !kv.Key.StartsWith("volatile.", StringComparison.Ordinal)).ToDictionary();
            foreach (var (k, v) in volatileKeys)
            {
                r.Config[k] = v;
            }
            // The files came back as they were: shifted to the map the snapshot recorded.
            if (snap.Config.TryGetValue(DiskIdmap, out var disk))
            {
                r.Config[DiskIdmap] = disk;
            }
            r.Devices = snap.Devices;
            r.Profiles = snap.Profiles.Where(p => p.Length > 0).ToList();
            return Task.CompletedTask;
        }, ct);
        await ReplanAsync(name, ct); // the restored config may isolate it (or not) as the snapshot did
        // The volume came back with the size it had; the restored devices say what it is now.
        var restored = await LoadAsync(name, ct);
        await pools.Get(RootDisk.Find(restored.Devices).Pool).SetInstanceVolumeSizeAsync(name, e.Record.Type, RootDisk.Size(restored.Devices), ct);
        if (wasRunning)
        {
            await StartLockedAsync(restored, ct);
        }
        Lifecycle("instance-restored", name, new() { ["snapshot"] = snapshot });
    }

    /// <summary>Now plus <c>snapshots.expiry</c> (null when unset); a bad value is a 400 naming the key.</summary>
    private DateTimeOffset? ConfiguredExpiry(IReadOnlyDictionary<string, string> config)
    {
        try
        {
            return SnapshotExpiry.From(Clock.GetUtcNow(), config.GetValueOrDefault("snapshots.expiry"));
        }
        catch (FormatException ex)
        {
            throw new BadRequestException($"Invalid value for config key \"snapshots.expiry\": {ex.Message}");
        }
    }

    /// <summary>
    /// Sets a snapshot's expiry (LXD's snapshot PUT/PATCH: <c>expires_at</c> is the one writable field;
    /// the zero time removes it).
    /// </summary>
    public async Task UpdateSnapshotExpiryAsync(string name, string snapshot, DateTimeOffset? expiresAt, CancellationToken ct)
    {
        using var _ = await _locks.AcquireAsync(name, ct);
        await Repo.GetSnapshotAsync(name, snapshot, ct);
        await Repo.UpdateSnapshotExpiryAsync(name, snapshot, SnapshotExpiry.Normalize(expiresAt), ct);
        Lifecycle("instance-snapshot-updated", $"{name}/snapshots/{snapshot}");
    }

    /// <summary>Whether the instance runs (or is frozen): scheduled snapshots skip stopped ones unless <c>snapshots.schedule.stopped</c>.</summary>
    public async Task<bool> IsRunningAsync(Expanded e, CancellationToken ct) =>
        (await DriverOf(e).GetStateAsync(SpecOf(e), ct)).Status != InstanceStatus.Stopped;

    /// <summary>LXD's startupSnapshot: a schedule listing <c>@startup</c> snapshots the instance each time it starts.</summary>
    private async Task StartupSnapshotAsync(Expanded e, CancellationToken ct)
    {
        if (SnapshotSchedule.HasStartup(e.Config.GetValueOrDefault("snapshots.schedule")))
        {
            await SnapshotLockedAsync(e, null, null, ct);
        }
    }

    private static void ValidateSnapshotName(string? name)
    {
        Names.ValidateEntityName("snapshot", name);
    }
}
