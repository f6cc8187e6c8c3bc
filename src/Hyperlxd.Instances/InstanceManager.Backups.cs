using System.Globalization;
using System.Text.Json;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Instances;
using Hyperlxd.Images;
using Hyperlxd.Images.Tar;
using Hyperlxd.Instances.Backups;
using Hyperlxd.State.Repositories;
using Hyperlxd.Storage;
using Microsoft.Extensions.Logging;
using StoragePool = Hyperlxd.Storage.StoragePool;

namespace Hyperlxd.Instances;

/// <summary>
/// Instance backups (LXD's <c>container_backup</c>): a row per backup and its tarball under
/// <c>StateDir/backups/instances/NAME/BACKUP</c>; import of such a tarball as a new instance.
/// </summary>
public sealed partial class InstanceManager
{
    private BackupRepository BackupRepo => store.Backups;

    private string BackupsRoot => Path.Combine(options.StateDir, "backups");

    private string BackupDirOf(string instance) => Path.Combine(BackupsRoot, "instances", instance);

    /// <summary>The tarball of a backup (404 when there is none).</summary>
    public async Task<string> BackupFileAsync(string instance, string backup, CancellationToken ct)
    {
        await GetBackupAsync(instance, backup, ct);
        var path = Path.Combine(BackupDirOf(instance), backup);
        return File.Exists(path) ? path : throw new NotFoundException("Backup file not found");
    }

    /// <summary>The instance's backups; expired ones are pruned first, so none is ever shown past its expiry.</summary>
    public async Task<List<BackupRecord>> ListBackupsAsync(string instance, CancellationToken ct)
    {
        await PruneExpiredBackupsAsync(ct);
        return await BackupRepo.ListAsync(instance, ct);
    }

    public async Task<BackupRecord> GetBackupAsync(string instance, string backup, CancellationToken ct)
    {
        await PruneExpiredBackupsAsync(ct);
        return await BackupRepo.GetAsync(instance, backup, ct);
    }

    public static InstanceBackup RenderBackup(BackupRecord b) => new()
    {
        Name = b.Name,
        CreatedAt = b.CreatedAt,
        ExpiresAt = b.ExpiresAt ?? default,
        InstanceOnly = b.InstanceOnly,
        ContainerOnly = b.InstanceOnly,
        OptimizedStorage = b.OptimizedStorage,
    };

    /// <summary>LXD's choice of a free name: backupN with N one past the highest used.</summary>
    public async Task<string> NextBackupNameAsync(string instance, CancellationToken ct) =>
        BackupRows.NextName(await BackupRepo.ListAsync(instance, ct));

    public static void ValidateBackupName(string? name)
    {
        Names.ValidateEntityName("backup", name);
    }

    /// <summary>Checks what can be checked before the operation: the instance's kind and the request's fields.</summary>
    public async Task CheckBackupRequestAsync(string instance, InstanceBackupsPost req, CancellationToken ct)
    {
        await LoadAsync(instance, ct);
        CompressionAlgorithms.Check(req.CompressionAlgorithm);
        if (!string.IsNullOrEmpty(req.Name))
        {
            ValidateBackupName(req.Name);
        }
    }

    /// <summary>
    /// Writes the backup: the row first, then the tarball of the root volume (and its snapshots unless
    /// <c>instance_only</c>), both undone on failure. On a pool that has no optimized format here,
    /// <c>optimized_storage</c> falls back to the portable one, as LXD does for drivers without it.
    /// </summary>
    public async Task CreateBackupAsync(string instance, string backup, InstanceBackupsPost req, CancellationToken ct)
    {
        using var _ = await _locks.AcquireAsync(instance, ct);
        var e = await LoadAsync(instance, ct);
        var compression = CompressionAlgorithms.Check(req.CompressionAlgorithm);
        var instanceOnly = req.InstanceOnly || req.ContainerOnly;
        var pool = pools.Get(RootDisk.Find(e.Devices).Pool);
        // A VM's disk is a qcow2 file in its volume: no driver stream carries it here, so VMs get the portable format.
        var optimized = req.OptimizedStorage && pool.HasOptimizedBackups && e.Type == InstanceType.Container;
        var snapshots = instanceOnly ? new List<InstanceRecord>() : await Repo.ListSnapshotsAsync(instance, ct);
        var diskMap = DiskMapOf(e.Record, snapshots);
        if (diskMap is not null && optimized)
        {
            throw new BadRequestException("An optimized backup of a container whose disk is shifted to its id map cannot be made (btrfs send carries the shifted ids): export it without --optimized-storage");
        }
        await using var revert = new Reverter();
        await BackupRepo.CreateAsync(new BackupRecord
        {
            Instance = instance,
            Name = backup,
            ExpiresAt = req.ExpiresAt is { } at && at > DateTimeOffset.MinValue.AddYears(1) ? at : null,
            InstanceOnly = instanceOnly,
            OptimizedStorage = optimized,
            Compression = compression,
        }, ct);
        revert.Add(() => BackupRepo.DeleteAsync(instance, backup, CancellationToken.None));
        var dir = BackupDirOf(instance);
        Directory.CreateDirectory(dir);
        var target = Path.Combine(dir, backup);
        var work = Path.Combine(BackupsRoot, ".work-" + Guid.NewGuid().ToString("N"));
        revert.Add(() => File.Delete(target));
        try
        {
            var rendered = await RenderAsync(e, false, ct);
            var config = new BackupConfig
            {
                Container = rendered,
                Snapshots = snapshots.Select(s => RenderSnapshot(s, e)).ToList(),
                Pool = new Api.StoragePool { Name = pool.Name, Driver = pool.Info.Name, Config = pool.Record.Config },
            };
            var index = new BackupIndex
            {
                Name = instance,
                Backend = pool.Info.Name,
                Pool = pool.Name,
                Snapshots = instanceOnly ? null : snapshots.Select(s => s.Name).ToList(),
                Optimized = optimized,
                OptimizedHeader = optimized,
                Type = e.Type.ToApi(),
                Config = config,
            };
            var indexYaml = YamlJson.ToYaml(JsonSerializer.SerializeToElement(index, ApiJsonContext.Default.BackupIndex));
            if (optimized)
            {
                await BackupTarball.WriteOptimizedAsync(target, work, indexYaml, snapshots.Select(s => s.Name).ToList(),
                    (files, volumeFile) => pool.SendInstanceVolumeAsync(instance, e.Type, files, volumeFile, ct), compression, ct);
                revert.Success();
                Lifecycle("instance-backup-created", $"{instance}/backups/{backup}");
                return;
            }
            var backupYaml = YamlJson.ToYaml(JsonSerializer.SerializeToElement(config, ApiJsonContext.Default.BackupConfig));
            var snapDirs = snapshots.Select(s => (s.Name, pool.InstanceSnapshotPath(instance, e.Type, s.Name))).ToList();
            if (e.Type == InstanceType.VirtualMachine)
            {
                await BackupTarball.WriteVmAsync(target, work, indexYaml, backupYaml, snapDirs, pool.InstanceVolumePath(instance, e.Type), VmDisk.FileName,
                    (disk, raw) => VmDisk.ToRawAsync(disk, raw), compression, ct);
            }
            else
            {
                string[]? idMaps = null;
                if (diskMap is not null)
                {
                    Directory.CreateDirectory(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                    idMaps = await ImageStore.UnshiftMapsAsync(snapDirs.Select(s => s.Item2).Append(pool.InstanceVolumePath(instance, e.Type)), diskMap, work, ct);
                }
                await BackupTarball.WriteAsync(target, work, indexYaml, backupYaml, snapDirs, pool.InstanceVolumePath(instance, e.Type), compression, ct, idMaps: idMaps);
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
        Lifecycle("instance-backup-created", $"{instance}/backups/{backup}");
    }

    /// <summary>
    /// The id map a chown-shifted disk holds (the volume's and its snapshots' <c>volatile.last_state.idmap</c>; none
    /// when idmapped mounts left them unshifted): the tarball is unshifted through it, so it carries the image's ids
    /// as LXD's does. Disks shifted to two different maps cannot be told apart by id: refused.
    /// </summary>
    private static List<PublishIdRange>? DiskMapOf(InstanceRecord record, IEnumerable<InstanceRecord> snapshots)
    {
        var maps = snapshots.Prepend(record).Select(r => r.Config.GetValueOrDefault(DiskIdmap)).Where(m => m is { Length: > 0 } and not "[]").Distinct().ToList();
        if (maps.Count > 1)
        {
            throw new BadRequestException("The container and its snapshots are shifted to different id maps: back it up without snapshots (--instance-only)");
        }
        return maps.Count == 1 ? ImageStore.ParseIdmap(maps[0], "back up the instance") : null;
    }

    public async Task RenameBackupAsync(string instance, string backup, string? newName, CancellationToken ct)
    {
        ValidateBackupName(newName);
        using var _ = await _locks.AcquireAsync(instance, ct);
        await BackupRepo.GetAsync(instance, backup, ct);
        var dir = BackupDirOf(instance);
        await BackupRepo.RenameAsync(instance, backup, newName!, ct);
        if (File.Exists(Path.Combine(dir, backup)))
        {
            File.Move(Path.Combine(dir, backup), Path.Combine(dir, newName!));
        }
        Lifecycle("instance-backup-renamed", $"{instance}/backups/{newName}", new() { ["old_name"] = backup });
    }

    public async Task DeleteBackupAsync(string instance, string backup, CancellationToken ct)
    {
        using var _ = await _locks.AcquireAsync(instance, ct);
        await BackupRepo.GetAsync(instance, backup, ct);
        DeleteBackupFile(instance, backup);
        await BackupRepo.DeleteAsync(instance, backup, ct);
        Lifecycle("instance-backup-deleted", $"{instance}/backups/{backup}");
    }

    /// <summary>The file first: a row without a file is deleted again by the next try, a file without a row would leak.</summary>
    private void DeleteBackupFile(string instance, string backup)
    {
        var path = Path.Combine(BackupDirOf(instance), backup);
        if (File.Exists(path))
        {
            File.Delete(path);
        }
    }

    /// <summary>Deletes every backup whose <c>expires_at</c> has passed (LXD's hourly task; also before listing).</summary>
    public Task PruneExpiredBackupsAsync(CancellationToken ct) =>
        BackupRows.PruneExpiredAsync(BackupRepo, b => DeleteBackupFile(b.Instance, b.Name), logger, "backup", ct);

    private Timer? _backupExpiry;

    /// <summary>LXD's pruning task: at start, then hourly.</summary>
    private void StartBackupExpiry() => _backupExpiry ??= BackupRows.StartHourly(PruneExpiredBackupsAsync, logger, "backup");

    /// <summary>An instance's backups go with it (rows by cascade, files here).</summary>
    private void DeleteBackupFiles(string instance)
    {
        if (Directory.Exists(BackupDirOf(instance)))
        {
            Directory.Delete(BackupDirOf(instance), true);
        }
    }

    /// <summary>An instance's backup files follow a rename (rows by cascade); returns the undo.</summary>
    private Func<Task>? MoveBackupFiles(string name, string newName)
    {
        if (!Directory.Exists(BackupDirOf(name)))
        {
            return null;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(BackupDirOf(newName))!);
        Directory.Move(BackupDirOf(name), BackupDirOf(newName));
        return () =>
        {
            Directory.Move(BackupDirOf(newName), BackupDirOf(name));
            return Task.CompletedTask;
        };
    }

    /// <summary>Where an uploaded backup is kept while it is checked and imported (the daemon's state dir, never /tmp).</summary>
    public string NewUploadPath()
    {
        Directory.CreateDirectory(BackupsRoot);
        return Path.Combine(BackupsRoot, ".upload-" + Guid.NewGuid().ToString("N"));
    }

    /// <summary>How much an upload may be: the free space where it is kept.</summary>
    public long UploadLimit() => new DriveInfo(BackupsRoot).AvailableFreeSpace;

    /// <summary>
    /// Checks an uploaded backup completely before anything is made (a 400 from the POST itself): the tarball
    /// (<see cref="BackupTarball.Inspect"/>), its index (names, type, snapshots, config), the target pool
    /// (<paramref name="poolName"/> overrides the index's) and the new name (<paramref name="name"/> overrides it; taken: 409).
    /// The instance lands in <paramref name="project"/>, its profiles named as those of <paramref name="profileProject"/>.
    /// </summary>
    public async Task<(InstanceRecord Record, CreateSource Source)> PrepareImportAsync(string file, string? name, string? poolName,
        string project, string profileProject, CancellationToken ct)
    {
        // Nothing can unpack to more than the roomiest pool holds: a small upload must not expand without bound.
        var room = pools.All.Select(p => new DriveInfo(p.Driver.Pool.MountPath).AvailableFreeSpace).DefaultIfEmpty(0).Max();
        var ahead = await Task.Run(() => BackupTarball.ReadIndexOnly(file, new SizeBudget(room, "the free space of the storage pools")), ct);
        var type = string.IsNullOrEmpty(ahead.Type) ? InstanceType.Container : InstanceTypes.Parse(ahead.Type);
        var layout = type == InstanceType.VirtualMachine ? BackupLayout.VirtualMachine : BackupLayout.Container;
        var contents = await Task.Run(() => BackupTarball.Inspect(file, new SizeBudget(room, "the free space of the storage pools"), layout), ct);
        var index = contents.Index;
        name = string.IsNullOrEmpty(name) ? index.Name : name;
        // A client's name (the header or the tarball's): never a key of another project ("p_c1").
        Names.ValidateUserInstanceName(name);
        var source = index.Config?.Container ?? throw new BadRequestException("Invalid backup: backup/index.yaml has no instance config (config.container)");
        // The pool: the one asked for (it must exist), else the index's, else the default profile's (as LXD).
        string pool;
        if (!string.IsNullOrEmpty(poolName))
        {
            pool = pools.TryGet(poolName)?.Name ?? throw new BadRequestException($"Storage pool \"{poolName}\" not found");
        }
        else if (pools.TryGet(index.Pool) is { } known)
        {
            pool = known.Name;
        }
        else
        {
            var profiles = (await store.Profiles.ListAsync(ct)).ToDictionary(p => p.Name);
            pool = profiles.TryGetValue(ProjectKeys.Scoped(profileProject, "default"), out var d) ? RootDisk.Find(d.Devices).Pool : throw new BadRequestException($"Storage pool \"{index.Pool}\" not found");
        }
        var optimized = index.Optimized ?? contents.HasOptimized;
        if (optimized && type == InstanceType.VirtualMachine)
        {
            throw new BadRequestException("Optimized backups of virtual machines cannot be imported (only the portable format)");
        }
        if (optimized)
        {
            CheckOptimizedTarget(pools.Get(pool), index);
        }
        contents.CheckHolds(optimized, index.Snapshots ?? new());
        var snapshots = new List<InstanceRecord>();
        foreach (var snap in index.Snapshots ?? new())
        {
            var c = index.Config.Snapshots?.FirstOrDefault(s => s.Name == snap);
            snapshots.Add(new InstanceRecord
            {
                Name = snap,
                Type = type,
                Architecture = string.IsNullOrEmpty(c?.Architecture) ? source.Architecture : c.Architecture,
                Config = ImportedConfig(c?.Config ?? source.Config, keepDisk: true),
                Devices = c?.Devices ?? source.Devices,
                Profiles = (c?.Profiles ?? source.Profiles).Select(n => ProjectKeys.Scoped(profileProject, n)).ToList(),
                Ephemeral = c?.Ephemeral ?? false,
                ExpiresAt = Core.Snapshots.SnapshotExpiry.Normalize(c?.ExpiresAt), // LXD's zero time is "never"
            });
        }
        // A snapshot's config becomes the instance's at a restore: checked like the instance's own.
        var profileNames = (await store.Profiles.ListAsync(ct)).Select(p => p.Name).ToHashSet();
        foreach (var s in snapshots)
        {
            InstanceConfig.Validate(s.Config, type);
            DeviceTypes.Validate(s.Devices, type);
            s.Profiles = s.Profiles.Where(profileNames.Contains).ToList();
        }
        var record = new InstanceRecord
        {
            Name = ProjectKeys.Instance(project, name!),
            Type = type,
            Architecture = source.Architecture,
            Description = source.Description,
            Config = ImportedConfig(source.Config, keepDisk: false),
            Devices = source.Devices,
            Profiles = source.Profiles.Select(n => ProjectKeys.Scoped(profileProject, n)).ToList(),
            Ephemeral = source.Ephemeral,
        };
        try
        {
            await Repo.GetAsync(record.Name, ct);
            throw new ConflictException($"Instance \"{name}\" already exists");
        }
        catch (NotFoundException)
        {
        }
        await PlaceRootOnAsync(record, pool, ct);
        foreach (var s in snapshots)
        {
            await PlaceRootOnAsync(s, pool, ct);
        }
        await ValidateAsync(record, ct);
        var expanded = await ExpandAsync(record, ct);
        await CheckPlanAsync(expanded, ct);
        await CheckDevicesAsync(expanded, ct);
        return (record, new BackupCreateSource(file, snapshots, optimized));
    }

    /// <summary>As LXD: optimized streams are the backend's own format, readable only by a pool of the same driver.</summary>
    internal static void CheckOptimizedTarget(StoragePool target, BackupIndex index)
    {
        if (target.Info.Name != index.Backend)
        {
            throw new BadRequestException($"Optimized backup storage driver \"{index.Backend}\" differs from the target storage pool driver \"{target.Info.Name}\"");
        }
        if (!target.HasOptimizedBackups)
        {
            throw new BadRequestException($"Optimized backups of storage driver \"{index.Backend}\" cannot be imported");
        }
    }

    /// <summary>
    /// The backup's config as the new instance starts with it: what the host derives (id maps, MACs, the
    /// running state) is planned afresh. The disk holds the image's ids, as the tarball did: no disk map
    /// for the instance (as after an image create), "[]" for a snapshot (a restore takes it over).
    /// </summary>
    private static Dictionary<string, string> ImportedConfig(Dictionary<string, string> config, bool keepDisk)
    {
        var result = config.Where(kv => !kv.Key.StartsWith("volatile.", StringComparison.Ordinal) || kv.Key == BaseImage || kv.Key.StartsWith("volatile.apply_", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        if (keepDisk)
        {
            result[DiskIdmap] = "[]";
        }
        return result;
    }

    /// <summary>
    /// Points the record's root disk at <paramref name="pool"/>: its own root device is rewritten; one that
    /// comes from a profile naming another pool gets a local override (LXD's UpdateInstanceConfigStoragePool).
    /// </summary>
    private async Task PlaceRootOnAsync(InstanceRecord record, string pool, CancellationToken ct)
    {
        foreach (var (_, d) in record.Devices)
        {
            if (d.GetValueOrDefault("type") == "disk" && d.GetValueOrDefault("path") == "/")
            {
                d["pool"] = pool;
                return;
            }
        }
        var profiles = (await store.Profiles.ListAsync(ct)).ToDictionary(p => p.Name);
        var (_, devices) = ProfileExpansion.Expand(record.Profiles.Where(profiles.ContainsKey).ToList(), profiles, record.Config, record.Devices);
        var (device, current) = RootDisk.Find(devices);
        if (current != pool)
        {
            record.Devices[device] = new Dictionary<string, string>(devices[device]) { ["pool"] = pool };
        }
    }

    /// <summary>
    /// Makes the root volume from the tarball as LXD does: each snapshot is unpacked into the empty volume and
    /// snapshotted, oldest first, then the volume itself; each step's undo goes on <paramref name="revert"/>.
    /// </summary>
    private async Task CreateRootFromBackupAsync(Expanded e, BackupCreateSource backup, StoragePool pool, Reverter revert, CancellationToken ct)
    {
        var r = e.Record;
        if (backup.Optimized)
        {
            await CreateRootFromStreamsAsync(e, backup, pool, revert, ct);
            return;
        }
        var path = await pool.CreateEmptyInstanceVolumeAsync(r.Name, r.Type, RootDisk.Size(e.Devices), ct);
        revert.Add(() => pool.DeleteInstanceVolumeAsync(r.Name, r.Type, CancellationToken.None));
        var layout = r.Type == InstanceType.VirtualMachine ? BackupLayout.VirtualMachine : BackupLayout.Container;
        SizeBudget Budget() => new(new DriveInfo(path).AvailableFreeSpace, $"the free space of storage pool \"{pool.Name}\"");
        async Task UnpackAsync(string dir, string block)
        {
            await Task.Run(() => BackupTarball.Extract(backup.File, dir, path, Budget()), ct);
            if (layout.HasBlocks)
            {
                // The raw disk next to the config files, then the qcow2 every VM volume holds.
                var raw = Path.Combine(path, ".backup-disk.raw");
                await Task.Run(() => BackupTarball.ExtractStreams(backup.File, new Dictionary<string, string> { [block] = raw }, Budget()), ct);
                try
                {
                    await VmDisk.FromRawAsync(raw, VmDisk.PathIn(path));
                }
                finally
                {
                    File.Delete(raw);
                }
            }
        }
        foreach (var snap in backup.Snapshots)
        {
            await UnpackAsync(layout.SnapshotDir(snap.Name), layout.SnapshotBlock(snap.Name));
            await pool.CreateInstanceSnapshotAsync(r.Name, r.Type, snap.Name, ct);
            await Repo.CreateSnapshotAsync(r.Name, snap, ct);
        }
        await UnpackAsync(layout.Volume, layout.VolumeBlock);
    }

    /// <summary>
    /// An optimized backup: its streams are copied out of the tarball (the tar may be compressed: no seeking into
    /// it) to a work directory, then received by the pool's driver, which makes the volume and its snapshots.
    /// </summary>
    private async Task CreateRootFromStreamsAsync(Expanded e, BackupCreateSource backup, StoragePool pool, Reverter revert, CancellationToken ct)
    {
        var r = e.Record;
        await BackupTarball.WithStreamsAsync(backup.File, BackupLayout.Container, backup.Snapshots.Select(s => s.Name).ToList(), BackupsRoot, async (files, volumeFile) =>
        {
            await pool.CreateInstanceVolumeFromStreamsAsync(r.Name, r.Type, RootDisk.Size(e.Devices), files, volumeFile, ct);
            revert.Add(() => pool.DeleteInstanceVolumeAsync(r.Name, r.Type, CancellationToken.None));
            return true;
        }, ct);
        foreach (var snap in backup.Snapshots)
        {
            await Repo.CreateSnapshotAsync(r.Name, snap, ct);
        }
    }
}
