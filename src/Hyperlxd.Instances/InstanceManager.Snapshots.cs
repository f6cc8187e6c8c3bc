using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.State.Repositories;

namespace Hyperlxd.Instances;

public sealed partial class InstanceManager
{
    private const string DiskIdmap = "volatile.last_state.idmap";

    public Task<List<InstanceRecord>> ListSnapshotsAsync(string name, CancellationToken ct) => Repo.ListSnapshotsAsync(name, ct);

    /// <summary>One snapshot of <paramref name="name"/> (404 when there is none).</summary>
    public Task<InstanceRecord> GetSnapshotAsync(string name, string snapshot, CancellationToken ct) => Repo.GetSnapshotAsync(name, snapshot, ct);

    /// <summary>Snapshot of the root volume plus the instance's config at that moment; an empty name picks snapN like LXD.</summary>
    public async Task<string> SnapshotAsync(string name, string? snapshot, DateTimeOffset? expiresAt, CancellationToken ct)
    {
        using var _ = await _locks.AcquireAsync(name, ct);
        var e = await LoadAsync(name, ct);
        var existing = (await Repo.ListSnapshotsAsync(name, ct)).Select(s => s.Name).ToHashSet();
        if (string.IsNullOrEmpty(snapshot))
        {
            var i = 0;
            while (existing.Contains($"snap{i}"))
            {
                i++;
            }
            snapshot = $"snap{i}";
        }
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

    private static void ValidateSnapshotName(string? name)
    {
        Names.ValidateEntityName("snapshot", name);
    }
}
