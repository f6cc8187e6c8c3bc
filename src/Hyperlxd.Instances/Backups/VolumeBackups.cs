using System.Globalization;
using System.Text.Json;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Events;
using Hyperlxd.Images.Tar;
using Hyperlxd.State;
using Hyperlxd.State.Repositories;
using Hyperlxd.Storage;
using Microsoft.Extensions.Logging;
using StoragePool = Hyperlxd.Storage.StoragePool;

namespace Hyperlxd.Instances.Backups;

/// <summary>
/// Custom volume backups (LXD's <c>custom_volume_backup</c>): a row per backup and its tarball under
/// <c>StateDir/backups/custom/VOLUME-ID/BACKUP</c> (the id, so a volume rename moves nothing), in LXD 5.0.2's
/// layout (<see cref="BackupLayout.Custom"/>), and the import of such a tarball as a new volume.
/// </summary>
public sealed class VolumeBackups(StateStore store, StoragePools pools, EventHub events, InstanceManagerOptions options, ILogger<VolumeBackups> logger) : IDisposable
{
    private readonly KeyedLock _locks = new();
    private Timer? _expiry;

    private BackupRepository Repo => store.VolumeBackups;

    private string Root => Path.Combine(options.StateDir, "backups", "custom");

    private string DirOf(VolumeRecord v) => Path.Combine(Root, v.Id.ToString(CultureInfo.InvariantCulture));

    private static string Owner(VolumeRecord v) => v.Id.ToString(CultureInfo.InvariantCulture);

    public static string Url(VolumeRecord v, string backup) => ProjectKeys.VolumeUrl(v.Pool, v.Type, v.Name, "/backups/" + Uri.EscapeDataString(backup));

    public static StoragePoolVolumeBackup Render(BackupRecord b) => new()
    {
        Name = b.Name,
        CreatedAt = b.CreatedAt,
        ExpiresAt = b.ExpiresAt ?? default,
        VolumeOnly = b.InstanceOnly,
        OptimizedStorage = b.OptimizedStorage,
    };

    /// <summary>Only custom volumes have backups (LXD answers the same for the other types).</summary>
    public static void CheckType(VolumeRecord v)
    {
        if (v.Type != "custom")
        {
            throw new BadRequestException($"Invalid storage volume type \"{v.Type}\": only custom volumes have backups");
        }
    }

    /// <summary>The volume's backups; expired ones are pruned first, so none is ever shown past its expiry.</summary>
    public async Task<List<BackupRecord>> ListAsync(VolumeRecord v, CancellationToken ct)
    {
        CheckType(v);
        await PruneExpiredAsync(ct);
        return await Repo.ListAsync(Owner(v), ct);
    }

    public async Task<BackupRecord> GetAsync(VolumeRecord v, string backup, CancellationToken ct)
    {
        CheckType(v);
        await PruneExpiredAsync(ct);
        return await Repo.GetAsync(Owner(v), backup, ct);
    }

    /// <summary>The tarball of a backup (404 when there is none).</summary>
    public async Task<string> FileAsync(VolumeRecord v, string backup, CancellationToken ct)
    {
        await GetAsync(v, backup, ct);
        var path = Path.Combine(DirOf(v), backup);
        return File.Exists(path) ? path : throw new NotFoundException("Backup file not found");
    }

    /// <summary>LXD's choice of a free name: backupN with N one past the highest used.</summary>
    public async Task<string> NextNameAsync(VolumeRecord v, CancellationToken ct) => BackupRows.NextName(await Repo.ListAsync(Owner(v), ct));

    /// <summary>What can be checked before the operation starts: the volume's type and the request's fields.</summary>
    public static void CheckRequest(VolumeRecord v, StoragePoolVolumeBackupsPost req)
    {
        CheckType(v);
        CompressionAlgorithms.Check(req.CompressionAlgorithm);
        if (!string.IsNullOrEmpty(req.Name))
        {
            Names.ValidateEntityName("backup", req.Name);
        }
    }

    /// <summary>
    /// Writes the backup: the row first, then the tarball (index, each snapshot unless <c>volume_only</c>, the
    /// volume), both undone on failure. <c>optimized_storage</c> on a pool without a format of its own falls
    /// back to the portable tarball, as LXD does.
    /// </summary>
    public async Task CreateAsync(StoragePool pool, VolumeRecord v, string backup, StoragePoolVolumeBackupsPost req, CancellationToken ct)
    {
        CheckRequest(v, req);
        using var _ = await _locks.AcquireAsync(Owner(v), ct);
        var compression = CompressionAlgorithms.Check(req.CompressionAlgorithm);
        var optimized = req.OptimizedStorage && pool.HasOptimizedBackups;
        var snapshots = req.VolumeOnly ? new List<VolumeSnapshotRecord>() : await pool.ListSnapshotsAsync(v, ct);
        await using var revert = new Reverter();
        await Repo.CreateAsync(new BackupRecord
        {
            Instance = Owner(v),
            Name = backup,
            ExpiresAt = req.ExpiresAt is { } at && at > DateTimeOffset.MinValue.AddYears(1) ? at : null,
            InstanceOnly = req.VolumeOnly,
            OptimizedStorage = optimized,
            Compression = compression,
        }, ct);
        revert.Add(() => Repo.DeleteAsync(Owner(v), backup, CancellationToken.None));
        Directory.CreateDirectory(DirOf(v));
        var target = Path.Combine(DirOf(v), backup);
        var work = Path.Combine(options.StateDir, "backups", ".work-" + Guid.NewGuid().ToString("N"));
        revert.Add(() => File.Delete(target));
        try
        {
            var (project, name) = ProjectKeys.SplitScoped(v.Name);
            var index = new BackupIndex
            {
                Name = name,
                Backend = pool.Info.Name,
                Pool = pool.Name,
                Snapshots = req.VolumeOnly ? null : snapshots.Select(s => s.Name).ToList(),
                Optimized = optimized,
                OptimizedHeader = optimized,
                Type = "custom",
                Config = new BackupConfig
                {
                    Volume = new StorageVolume { Name = name, Type = v.Type, Description = v.Description, Config = v.Config, ContentType = v.ContentType, Project = project },
                    VolumeSnapshots = snapshots.Select(s => new StorageVolumeSnapshot
                    {
                        Name = s.Name, Description = s.Description, Config = s.Config, ContentType = v.ContentType, CreatedAt = s.CreatedAt, ExpiresAt = s.ExpiresAt ?? default,
                    }).ToList(),
                },
            };
            var indexYaml = YamlJson.ToYaml(JsonSerializer.SerializeToElement(index, ApiJsonContext.Default.BackupIndex));
            if (optimized)
            {
                await BackupTarball.WriteOptimizedAsync(target, work, indexYaml, snapshots.Select(s => s.Name).ToList(),
                    (files, volumeFile) => pool.SendCustomVolumeAsync(v.Name, files, volumeFile, ct), compression, ct, BackupLayout.Custom);
            }
            else
            {
                var snapDirs = snapshots.Select(s => (s.Name, pool.CustomSnapshotPath(v.Name, s.Name))).ToList();
                await BackupTarball.WriteAsync(target, work, indexYaml, null, snapDirs, pool.CustomVolumePath(v.Name), compression, ct, BackupLayout.Custom);
            }
        }
        finally
        {
            if (Directory.Exists(work))
            {
                Directory.Delete(work, true);
            }
        }
        revert.Success();
        events.PublishLifecycle("storage-volume-backup-created", Url(v, backup));
    }

    public async Task RenameAsync(VolumeRecord v, string backup, string? newName, CancellationToken ct)
    {
        Names.ValidateEntityName("backup", newName);
        using var _ = await _locks.AcquireAsync(Owner(v), ct);
        await Repo.GetAsync(Owner(v), backup, ct);
        await Repo.RenameAsync(Owner(v), backup, newName!, ct);
        var dir = DirOf(v);
        if (File.Exists(Path.Combine(dir, backup)))
        {
            File.Move(Path.Combine(dir, backup), Path.Combine(dir, newName!));
        }
        events.PublishLifecycle("storage-volume-backup-renamed", Url(v, newName!), new() { ["old_name"] = backup });
    }

    public async Task DeleteAsync(VolumeRecord v, string backup, CancellationToken ct)
    {
        using var _ = await _locks.AcquireAsync(Owner(v), ct);
        await Repo.GetAsync(Owner(v), backup, ct);
        DeleteFile(Owner(v), backup);
        await Repo.DeleteAsync(Owner(v), backup, ct);
        events.PublishLifecycle("storage-volume-backup-deleted", Url(v, backup));
    }

    /// <summary>A deleted volume's backups go with it (rows by cascade, files here).</summary>
    public void DeleteFiles(VolumeRecord v)
    {
        if (Directory.Exists(DirOf(v)))
        {
            Directory.Delete(DirOf(v), true);
        }
    }

    /// <summary>The file first: a row without a file is deleted again by the next try, a file without a row would leak.</summary>
    private void DeleteFile(string owner, string backup)
    {
        var path = Path.Combine(Root, owner, backup);
        if (File.Exists(path))
        {
            File.Delete(path);
        }
    }

    /// <summary>Deletes every volume backup whose <c>expires_at</c> has passed (LXD's hourly task; also before listing).</summary>
    public Task PruneExpiredAsync(CancellationToken ct) =>
        BackupRows.PruneExpiredAsync(Repo, b => DeleteFile(b.Instance, b.Name), logger, "volume backup", ct);

    /// <summary>
    /// At daemon start: files of volumes that no longer exist (deleted while the daemon was down, or a crash
    /// between the volume and its files) are removed, then expired backups are pruned at once and hourly.
    /// </summary>
    public async Task StartAsync(CancellationToken ct)
    {
        if (Directory.Exists(Root))
        {
            var live = new HashSet<string>(StringComparer.Ordinal);
            foreach (var pool in pools.All)
            {
                foreach (var v in await pool.ListVolumesAsync("custom", ct))
                {
                    live.Add(Owner(v));
                }
            }
            foreach (var dir in Directory.EnumerateDirectories(Root))
            {
                if (!live.Contains(Path.GetFileName(dir)))
                {
                    Directory.Delete(dir, true);
                }
            }
        }
        _expiry ??= BackupRows.StartHourly(PruneExpiredAsync, logger, "volume backup");
    }

    public void Dispose() => _expiry?.Dispose();

    /// <summary>A checked volume backup, ready to be made into a volume.</summary>
    public sealed record ImportPlan(string File, StoragePool Pool, string Name, StorageVolume Volume, List<ImportedSnapshot> Snapshots, bool Optimized);

    /// <summary>
    /// Checks an uploaded volume backup completely before anything is made (a 400 from the POST itself): the
    /// tarball, its index (type custom, names, snapshots and their configs), the target pool and the new name
    /// (<paramref name="name"/> overrides the index's; taken: 409). Config keys the target pool does not take
    /// are dropped, as LXD strips them when a backup moves between drivers.
    /// </summary>
    /// <summary>Checks a volume backup tarball whole; the volume is made in <paramref name="project"/> (the project the request uses for volumes).</summary>
    public async Task<ImportPlan> PrepareImportAsync(string file, StoragePool pool, string project, string? name, CancellationToken ct)
    {
        var room = new DriveInfo(pool.Driver.Pool.MountPath).AvailableFreeSpace;
        var contents = await Task.Run(() => BackupTarball.Inspect(file, new SizeBudget(room, $"the free space of storage pool \"{pool.Name}\""), BackupLayout.Custom), ct);
        var index = contents.Index;
        if (index.Type != "custom")
        {
            throw new BadRequestException($"Invalid backup: backup/index.yaml has type \"{index.Type}\", not \"custom\" (instances are imported with lxc import)");
        }
        var volume = index.Config?.Volume ?? throw new BadRequestException("Invalid backup: backup/index.yaml has no volume config (config.volume)");
        if (volume.ContentType is { Length: > 0 } contentType && contentType != "filesystem")
        {
            throw new BadRequestException($"Importing volumes of content type \"{contentType}\" is not supported");
        }
        name = string.IsNullOrEmpty(name) ? index.Name : name;
        Names.ValidateEntityName("storage volume", name);
        var optimized = index.Optimized ?? contents.HasOptimized;
        if (optimized)
        {
            InstanceManager.CheckOptimizedTarget(pool, index);
        }
        var snapshotNames = index.Snapshots ?? new();
        contents.CheckHolds(optimized, snapshotNames);
        var configs = index.Config.VolumeSnapshots ?? new();
        var snapshots = new List<ImportedSnapshot>();
        foreach (var snap in snapshotNames)
        {
            // An old LXD wrote "VOLUME/SNAP" here: both forms name the snapshot.
            var c = configs.FirstOrDefault(s => s.Name == snap || s.Name.EndsWith("/" + snap, StringComparison.Ordinal));
            snapshots.Add(new ImportedSnapshot(snap, c?.Description ?? "", c?.ExpiresAt is { } at && at > DateTimeOffset.MinValue.AddYears(1) ? at : null, ""));
        }
        volume.Config = SupportedConfig(pool, volume.Config ?? new());
        if (await TryGetVolumeAsync(pool, ProjectKeys.Scoped(project, name!), ct) is not null)
        {
            throw new ConflictException($"Storage volume \"{name}\" already exists in pool \"{pool.Name}\"");
        }
        return new ImportPlan(file, pool, ProjectKeys.Scoped(project, name!), volume, snapshots, optimized);
    }

    private static async Task<VolumeRecord?> TryGetVolumeAsync(StoragePool pool, string name, CancellationToken ct)
    {
        try
        {
            return await pool.GetVolumeAsync("custom", name, ct);
        }
        catch (NotFoundException)
        {
            return null;
        }
    }

    private static Dictionary<string, string> SupportedConfig(StoragePool pool, Dictionary<string, string> config)
    {
        var kept = new Dictionary<string, string>();
        foreach (var (key, value) in config)
        {
            try
            {
                pool.ValidateVolumeConfig(new Dictionary<string, string> { [key] = value });
                kept[key] = value;
            }
            catch (BadRequestException)
            {
            }
        }
        return kept;
    }

    /// <summary>
    /// Makes the volume as LXD does: each snapshot is unpacked into the empty volume and snapshotted, oldest
    /// first, then the volume itself (or the driver receives the streams); nothing is left when it throws.
    /// </summary>
    public async Task ImportAsync(ImportPlan plan, CancellationToken ct)
    {
        var pool = plan.Pool;
        await using var revert = new Reverter();
        VolumeRecord v;
        if (plan.Optimized)
        {
            v = await ImportStreamsAsync(plan, ct);
        }
        else
        {
            v = await pool.CreateVolumeAsync(Storage.Drivers.VolumeType.Custom, plan.Name, plan.Volume.Description, plan.Volume.Config, "filesystem", ct);
            revert.Add(() => pool.DeleteVolumeAsync(v, CancellationToken.None));
            var path = pool.CustomVolumePath(v.Name);
            SizeBudget Budget() => new(new DriveInfo(path).AvailableFreeSpace, $"the free space of storage pool \"{pool.Name}\"");
            foreach (var snap in plan.Snapshots)
            {
                await Task.Run(() => BackupTarball.Extract(plan.File, BackupLayout.Custom.SnapshotDir(snap.Name), path, Budget()), ct);
                await pool.CreateSnapshotAsync(v, snap.Name, snap.ExpiresAt, ct);
                var row = await pool.GetSnapshotAsync(v, snap.Name, ct);
                await pool.UpdateSnapshotAsync(row, snap.Description, snap.ExpiresAt, ct);
            }
            await Task.Run(() => BackupTarball.Extract(plan.File, BackupLayout.Custom.Volume, path, Budget()), ct);
        }
        revert.Success();
        events.PublishLifecycle("storage-volume-created", ProjectKeys.VolumeUrl(pool.Name, "custom", v.Name));
    }

    /// <summary>An optimized backup: its streams are copied out to a root-only work directory, then received by the driver.</summary>
    private Task<VolumeRecord> ImportStreamsAsync(ImportPlan plan, CancellationToken ct) =>
        BackupTarball.WithStreamsAsync(plan.File, BackupLayout.Custom, plan.Snapshots.Select(s => s.Name).ToList(), Path.Combine(options.StateDir, "backups"),
            (files, volumeFile) => plan.Pool.CreateCustomVolumeFromStreamsAsync(plan.Name, plan.Volume.Description, plan.Volume.Config,
                plan.Snapshots.Select((s, i) => s with { File = files[i].File }).ToList(), volumeFile, ct), ct);
}
