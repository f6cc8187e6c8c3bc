using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.State.Repositories;
using Microsoft.Extensions.Logging;
using Hyperlxd.Core.Config;

namespace Hyperlxd.Instances;

public sealed partial class InstanceManager
{
    private const string LastPower = "volatile.last_state.power";
    private const string BaseImage = "volatile.base_image";

    public static string Url(string name) => ProjectKeys.InstanceUrl(name);

    /// <summary>
    /// Checks a create request completely before anything is written, so that a bad request is a
    /// 400 from the POST itself rather than a failed operation.
    /// </summary>
    public async Task<(InstanceRecord Record, CreateSource Source)> PrepareCreateAsync(InstancesPost req, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(req.Name))
        {
            // As LXD: `lxc launch IMAGE` and `lxc copy c1` send no name and get a generated one.
            req.Name = PetNames.Unused((await Repo.ListAsync(ct)).Select(r => r.Name).ToHashSet(StringComparer.Ordinal));
        }
        Names.ValidateInstanceName(req.Name);
        var type = InstanceTypes.Parse(req.Type);
        if (!string.IsNullOrEmpty(req.InstanceType))
        {
            throw new BadRequestException("\"instance_type\" (cloud instance sizes) is not supported: set limits.cpu and limits.memory instead");
        }
        var source = req.Source ?? throw new BadRequestException("Missing \"source\": an image (alias or fingerprint) is required");
        return source.Type switch
        {
            "image" => await PrepareFromImageAsync(req, type, source, ct),
            "copy" => await PrepareCopyAsync(req, type, source, ct),
            "none" => throw new BadRequestException("Creating empty instances (source type \"none\") is not supported yet"),
            "migration" => throw new BadRequestException($"Source type \"{source.Type}\" is not supported yet"),
            _ => throw new BadRequestException($"Invalid source type \"{source.Type}\""),
        };
    }

    private async Task<(InstanceRecord Record, CreateSource Source)> PrepareFromImageAsync(InstancesPost req, InstanceType type, InstanceSource source, CancellationToken ct)
    {
        if (!string.IsNullOrEmpty(source.Server))
        {
            throw new BadRequestException("Creating from a remote image server is not supported: import the image first (lxc image copy)");
        }
        string fingerprint;
        if (!string.IsNullOrEmpty(source.Fingerprint))
        {
            fingerprint = source.Fingerprint;
        }
        else if (!string.IsNullOrEmpty(source.Alias))
        {
            fingerprint = (await images.GetAliasAsync(source.Alias, ct)).Target ?? throw new NotFoundException("Image alias not found");
        }
        else
        {
            throw new BadRequestException("The image source needs an \"alias\" or a \"fingerprint\"");
        }
        var image = await images.GetAsync(fingerprint, ct);
        if (image.Type != type.ToApi())
        {
            throw new BadRequestException($"Image {image.Fingerprint[..12]} is a {image.Type} image, not a {type.ToApi()} one");
        }
        var record = new InstanceRecord
        {
            Name = req.Name!,
            Type = type,
            Architecture = string.IsNullOrEmpty(req.Architecture) ? image.Architecture : req.Architecture,
            Description = req.Description ?? "",
            Config = ConfigPatch.Set(req.Config), // "" (or JSON null) sets nothing, as in LXD
            Devices = req.Devices ?? new(),
            // No list in the request: the image's profiles (LXD); an explicit [] means none.
            Profiles = req.Profiles ?? (image.Profiles.Count > 0 ? image.Profiles.ToList() : new List<string> { "default" }),
            Ephemeral = req.Ephemeral,
        };
        if (record.Config.Keys.FirstOrDefault(k => k.StartsWith("volatile.", StringComparison.Ordinal)) is { } key)
        {
            throw new BadRequestException($"Invalid config key \"{key}\": volatile keys are set by the server");
        }
        await ValidateAsync(record, ct);
        var expanded = await ExpandAsync(record, ct);
        await CheckPlanAsync(expanded, ct);
        await CheckDevicesAsync(expanded, ct);
        record.Config[BaseImage] = image.Fingerprint;
        foreach (var (k, v) in image.Properties)
        {
            record.Config.TryAdd("image." + k, v);
        }
        return (record, new ImageCreateSource(image.Fingerprint));
    }

    /// <summary>
    /// The create operation: record, root volume from the image, driver preparation — all undone on
    /// failure. The record stays marked "creating" until the last step; a daemon killed midway
    /// cannot undo, so its next start removes such records with their volumes (<see cref="RemoveUnfinishedCreatesAsync"/>).
    /// </summary>
    public async Task CreateAsync(InstanceRecord record, CreateSource source, CancellationToken ct)
    {
        using var _ = await _locks.AcquireAsync(record.Name, ct);
        await using var revert = new Reverter();
        if (source is ImageCreateSource)
        {
            DeferTemplateApply(record, "create");
        }
        using (await PlanningLockAsync(ct))
        {
            foreach (var (k, v) in await PlanAsync(await ExpandAsync(record, ct), ct))
            {
                record.Config[k] = v;
            }
            await Repo.CreateAsync(record, ct);
            revert.Add(() => Repo.DeleteAsync(record.Name, CancellationToken.None));
        }
        var e = await ExpandAsync(record, ct);
        var (_, poolName) = RootDisk.Find(e.Devices);
        var pool = pools.Get(poolName);
        switch (source)
        {
            case ImageCreateSource image:
                await pool.CreateInstanceVolumeFromImageAsync(record.Name, record.Type, image.Fingerprint, RootDisk.Size(e.Devices), ct);
                revert.Add(() => pool.DeleteInstanceVolumeAsync(record.Name, record.Type, CancellationToken.None));
                break;
            case CopyCreateSource copy:
                await CreateRootFromCopyAsync(e, copy, pool, revert, ct);
                break;
            case Backups.BackupCreateSource backup:
                await CreateRootFromBackupAsync(e, backup, pool, revert, ct);
                break;
            default:
                throw new InvalidOperationException($"Unknown create source {source.GetType().Name}");
        }
        var spec = SpecOf(e);
        Directory.CreateDirectory(spec.StateDir);
        revert.Add(() => Directory.Delete(spec.StateDir, true));
        await PrepareRootAsync(e, ct);
        // Last step: the mark goes only once everything above is in place.
        await Repo.CompleteCreateAsync(record.Name, new Dictionary<string, string>(), ct);
        revert.Success();
        logger.LogInformation("Created instance {Name} from {Source}", record.Name, source);
    }

    public async Task<RuntimeState> StateAsync(Expanded e, CancellationToken ct)
    {
        var state = await DriverOf(e).GetStateAsync(SpecOf(e), ct); // SpecOf has checked the root disk
        var (device, pool) = RootDisk.Find(e.Devices);
        return pools.TryGet(pool)?.InstanceVolumeUsage(e.Record.Name, e.Record.Type) is { } used
            ? state with { DiskUsage = new Dictionary<string, long> { [device] = used } }
            : state;
    }

    /// <summary>
    /// Runs one state action under the instance lock. Errors name the mismatch the way LXD does
    /// ("The instance is already running").
    /// </summary>
    public async Task ChangeStateAsync(string name, InstanceStatePut req, CancellationToken ct)
    {
        using var _ = await _locks.AcquireAsync(name, ct);
        var e = await LoadAsync(name, ct);
        var driver = DriverOf(e);
        var spec = SpecOf(e);
        var status = (await driver.GetStateAsync(spec, ct)).Status;
        var timeout = req.Timeout < 0 ? TimeSpan.FromSeconds(30) : TimeSpan.FromSeconds(req.Timeout);
        switch (req.Action)
        {
            case "start":
                if (status != InstanceStatus.Stopped)
                {
                    throw new BadRequestException(status == InstanceStatus.Frozen ? "The instance is frozen: unfreeze it" : "The instance is already running");
                }
                await StartLockedAsync(e, ct);
                break;
            case "stop":
                if (status == InstanceStatus.Stopped)
                {
                    throw new BadRequestException("The instance is already stopped");
                }
                await StopLockedAsync(e, req.Force || status == InstanceStatus.Frozen, timeout, ct);
                break;
            case "restart":
                if (status == InstanceStatus.Stopped)
                {
                    throw new BadRequestException("The instance isn't running");
                }
                await StopLockedAsync(e, req.Force, timeout, ct, restarting: true);
                await StartLockedAsync(await LoadAsync(name, ct), ct);
                break;
            case "freeze":
                if (status != InstanceStatus.Running)
                {
                    throw new BadRequestException(status == InstanceStatus.Frozen ? "The instance is already frozen" : "The instance isn't running");
                }
                await driver.FreezeAsync(spec, ct);
                Lifecycle("instance-paused", name);
                break;
            case "unfreeze":
                if (status != InstanceStatus.Frozen)
                {
                    throw new BadRequestException("The instance isn't frozen");
                }
                await driver.UnfreezeAsync(spec, ct);
                Lifecycle("instance-resumed", name);
                break;
            default:
                throw new BadRequestException($"Unknown state action \"{req.Action}\": use start, stop, restart, freeze or unfreeze");
        }
    }

    private async Task StartLockedAsync(Expanded e, CancellationToken ct)
    {
        Directory.CreateDirectory(StateDirOf(e.Record.Name));
        await PrepareRootAsync(e, ct); // a changed id map is applied to the disk now
        await ApplyTemplatesAsync(e, ct);
        await StartWithDevicesAsync(e, ct); // the devices' setup, then the driver
        await Repo.UpdateAsync(e.Record.Name, r =>
        {
            r.Config[LastPower] = "RUNNING";
            r.LastUsedAt = DateTimeOffset.UtcNow;
            return Task.CompletedTask;
        }, ct);
        Watch(e);
        WatchUnixDevices(e); // required=false unix devices follow their host node
        Lifecycle("instance-started", e.Record.Name);
        await StartupSnapshotAsync(e, ct);
    }

    private async Task StopLockedAsync(Expanded e, bool force, TimeSpan timeout, CancellationToken ct, bool restarting = false)
    {
        var driver = DriverOf(e);
        var spec = SpecOf(e);
        await driver.StopAsync(spec, force, timeout, ct);
        await CleanupAsync(e, ct);
        if (e.Record.Ephemeral && !restarting)
        {
            await DeleteLockedAsync(e, ct);
            Lifecycle("instance-deleted", e.Record.Name);
            return;
        }
        await Repo.UpdateAsync(e.Record.Name, r =>
        {
            r.Config[LastPower] = "STOPPED";
            return Task.CompletedTask;
        }, ct);
        Lifecycle(restarting ? "instance-restarted" : "instance-stopped", e.Record.Name);
    }

    public async Task DeleteAsync(string name, CancellationToken ct)
    {
        using var _ = await _locks.AcquireAsync(name, ct);
        var e = await LoadAsync(name, ct);
        if (LxdBool.IsTrue(e.Config.GetValueOrDefault("security.protection.delete")))
        {
            throw new BadRequestException("The instance is protected from deletion (security.protection.delete)");
        }
        if ((await DriverOf(e).GetStateAsync(SpecOf(e), ct)).Status != InstanceStatus.Stopped)
        {
            throw new BadRequestException("The instance is running: stop it first or use --force");
        }
        await DeleteLockedAsync(e, ct);
        Lifecycle("instance-deleted", name);
    }

    /// <summary>Runtime leftovers first, then snapshots and the volume, the record last: a crash midway leaves a record the next delete finishes.</summary>
    private async Task DeleteLockedAsync(Expanded e, CancellationToken ct)
    {
        var spec = SpecOf(e);
        await CleanupAsync(e, ct);
        DriverOf(e).Forget(spec);
        var pool = pools.Get(RootDisk.Find(e.Devices).Pool);
        foreach (var s in await Repo.ListSnapshotsAsync(e.Record.Name, ct))
        {
            await pool.DeleteInstanceSnapshotAsync(e.Record.Name, e.Record.Type, s.Name, ct);
            await Repo.DeleteSnapshotAsync(e.Record.Name, s.Name, ct);
        }
        try
        {
            await pool.DeleteInstanceVolumeAsync(e.Record.Name, e.Record.Type, ct);
        }
        catch (NotFoundException)
        {
            // Already gone: an earlier delete got this far.
        }
        if (Directory.Exists(spec.StateDir))
        {
            Directory.Delete(spec.StateDir, true);
        }
        DeleteBackupFiles(e.Record.Name);
        await Repo.DeleteAsync(e.Record.Name, ct);
    }

    /// <param name="applyTemplates">False for the last step of a move between pools: LXD applies no template when moving.</param>
    public async Task RenameAsync(string name, string? newName, CancellationToken ct, bool applyTemplates = true)
    {
        Names.ValidateInstanceName(newName);
        using var _ = await _locks.AcquireAsync(name, ct);
        var e = await LoadAsync(name, ct);
        if ((await DriverOf(e).GetStateAsync(SpecOf(e), ct)).Status != InstanceStatus.Stopped)
        {
            throw new BadRequestException("Renaming a running instance is not allowed: stop it first");
        }
        var pool = pools.Get(RootDisk.Find(e.Devices).Pool);
        await using var revert = new Reverter();
        await Repo.RenameAsync(name, newName!, ct);
        revert.Add(() => Repo.RenameAsync(newName!, name, CancellationToken.None));
        if (applyTemplates)
        {
            await Repo.UpdateAsync(newName!, r =>
            {
                DeferTemplateApply(r, "rename");
                return Task.CompletedTask;
            }, ct);
        }
        await pool.RenameInstanceVolumeAsync(name, newName!, e.Record.Type, ct);
        revert.Add(() => pool.RenameInstanceVolumeAsync(newName!, name, e.Record.Type, CancellationToken.None));
        if (Directory.Exists(StateDirOf(name)))
        {
            Directory.Move(StateDirOf(name), StateDirOf(newName!));
            revert.Add(() => Directory.Move(StateDirOf(newName!), StateDirOf(name)));
        }
        if (MoveBackupFiles(name, newName!) is { } undoBackups)
        {
            revert.Add(undoBackups);
        }
        var driver = DriverOf(e);
        await driver.RenameAsync(SpecOf(e), newName!, ct); // what the driver keys by name (the old name's exit record)
        revert.Success();
        Lifecycle("instance-renamed", newName!, new() { ["old_name"] = name });
    }

    /// <summary>
    /// Daemon start: drivers re-attach to what runs and clean what belongs to no instance; then
    /// instances with <c>boot.autostart</c> (or, when unset, that were running) are started.
    /// </summary>
    public async Task StartupAsync(CancellationToken ct)
    {
        await RemoveUnfinishedCreatesAsync(ct);
        SweepPins();
        StartBackupExpiry();
        await ReplanAllAsync(ct);
        var all = await ExpandAllAsync(await Repo.ListAsync(ct), ct);
        foreach (var driver in drivers.All.Where(d => d.Info.Available))
        {
            var known = new List<InstanceSpec>();
            foreach (var e in all.Where(e => e.Type == driver.Type))
            {
                try
                {
                    known.Add(SpecOf(e));
                }
                catch (HyperlxdException ex)
                {
                    logger.LogWarning("Instance {Name} cannot be reconciled: {Error}", e.Record.Name, ex.Message);
                }
            }
            await driver.ReconcileAsync(known, ct);
        }
        foreach (var e in all)
        {
            try
            {
                await RecoverAsync(e, ct);
            }
            catch (Exception ex) when (ex is HyperlxdException or IOException or InvalidOperationException)
            {
                logger.LogError("Start-up of instance {Name} failed: {Error}", e.Record.Name, ex.Message);
            }
        }
    }

    /// <summary>
    /// Creates the previous daemon did not finish (killed midway; their clients saw an error) are
    /// removed as a delete would: runtime leftovers, the partial volume if any, the record. LXD's
    /// semantics: an instance either exists complete or not at all. One that cannot be removed now
    /// (its pool is not mounted) keeps its mark and is retried at the next start.
    /// </summary>
    private async Task RemoveUnfinishedCreatesAsync(CancellationToken ct)
    {
        foreach (var e in await ExpandAllAsync(await Repo.ListCreatingAsync(ct), ct))
        {
            try
            {
                using var _ = await _locks.AcquireAsync(e.Record.Name, ct);
                await DeleteLockedAsync(e, ct);
                logger.LogWarning("Removed instance {Name}: its create did not finish before the daemon stopped", e.Record.Name);
            }
            catch (Exception ex) when (ex is HyperlxdException or IOException or InvalidOperationException)
            {
                logger.LogError("Instance {Name} was left half-created and cannot be removed yet: {Error}", e.Record.Name, ex.Message);
            }
        }
    }

    /// <summary>
    /// <c>boot.autostart=true</c> always starts. Unset, an instance comes back only if it was running
    /// and nothing recorded its end (a host reboot); one that exited while the daemon was away stays
    /// stopped with its exit shown, and is cleaned up.
    /// </summary>
    private async Task RecoverAsync(Expanded e, CancellationToken ct)
    {
        var spec = SpecOf(e);
        var driver = DriverOf(e);
        var state = await driver.GetStateAsync(spec, ct);
        if (state.Status != InstanceStatus.Stopped)
        {
            using (await _locks.AcquireAsync(e.Record.Name, ct))
            {
                try
                {
                    await StartedDevicesAsync(e, spec, ct); // proxies: the forwarders that survived are adopted, the others started again
                }
                catch (HyperlxdException ex)
                {
                    logger.LogError("Instance {Name}: its devices could not be resumed: {Error}", e.Record.Name, ex.Message);
                }
            }
            Watch(e); // kept running while the daemon was away
            WatchUnixDevices(e); // its first check catches up with nodes made or removed meanwhile
            return;
        }
        var autostart = e.Config.GetValueOrDefault("boot.autostart");
        var wasRunning = e.Config.GetValueOrDefault(LastPower) == "RUNNING";
        var wanted = LxdBool.IsTrue(autostart) || (autostart is null or "" && wasRunning && state.LastExit is null);
        using var _ = await _locks.AcquireAsync(e.Record.Name, ct);
        if (wanted)
        {
            await StartLockedAsync(e, ct);
            logger.LogInformation("Autostarted instance {Name}", e.Record.Name);
        }
        else if (wasRunning)
        {
            await CleanupAsync(e, ct); // died while the daemon was down: the driver's and the devices' leftovers
            await Repo.UpdateAsync(e.Record.Name, r =>
            {
                r.Config[LastPower] = "STOPPED";
                return Task.CompletedTask;
            }, ct);
            logger.LogInformation("Instance {Name} stopped while the daemon was down ({Reason})", e.Record.Name, state.LastExit?.Reason ?? "unknown");
        }
    }

    private void Lifecycle(string action, string name, Dictionary<string, object?>? context = null) =>
        events.PublishLifecycle(action, Url(name), context);
}
