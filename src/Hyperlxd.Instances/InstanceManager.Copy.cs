using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Instances;
using Hyperlxd.State.Repositories;
using Microsoft.Extensions.Logging;
using StoragePool = Hyperlxd.Storage.StoragePool;

namespace Hyperlxd.Instances;

/// <summary>Copies of instances and snapshots (<c>lxc copy</c>), and moves between pools.</summary>
public sealed partial class InstanceManager
{
    /// <summary>
    /// LXD's local copy (createFromCopy): the request's config and devices win, the source's local ones fill in
    /// what it does not name; of the source's volatile keys only <c>volatile.base_image</c> and the map its disk is
    /// shifted to come along (new MACs, a new id map, no last state). Everything is checked before the 202.
    /// </summary>
    private async Task<(InstanceRecord Record, CreateSource Source)> PrepareCopyAsync(InstancesPost req, InstanceType type, InstanceSource source, CancellationToken ct)
    {
        if (source.Refresh)
        {
            throw new BadRequestException("Incremental copies (\"refresh\", lxc copy --refresh) are not supported");
        }
        if (!string.IsNullOrEmpty(source.Project) && source.Project != "default")
        {
            throw new BadRequestException($"Project \"{source.Project}\" not found: only the default project exists");
        }
        if (req.Stateful)
        {
            throw new BadRequestException("Stateful copies are not supported: copy the instance stateless (--stateless)");
        }
        var (name, snapshot) = ParseCopySource(source.Source);
        var src = await LoadAsync(name, ct);
        var from = snapshot is null ? src.Record : await Repo.GetSnapshotAsync(name, snapshot, ct);
        if (!string.IsNullOrEmpty(req.Type) && type != src.Type)
        {
            throw new BadRequestException("Instance type should not be specified or should match source type");
        }
        var config = ConfigPatch.Set(req.Config)
            .Where(kv => !kv.Key.StartsWith("volatile.", StringComparison.Ordinal) || kv.Key == BaseImage)
            .ToDictionary();
        foreach (var (k, v) in from.Config.Where(kv => !kv.Key.StartsWith("volatile.", StringComparison.Ordinal) || kv.Key == BaseImage))
        {
            config.TryAdd(k, v);
        }
        var devices = req.Devices ?? new();
        foreach (var (k, d) in from.Devices)
        {
            devices.TryAdd(k, new Dictionary<string, string>(d));
        }
        var record = new InstanceRecord
        {
            Name = req.Name!,
            Type = src.Type,
            Architecture = from.Architecture,
            Description = req.Description ?? "",
            Config = config,
            Devices = devices,
            Profiles = req.Profiles ?? new List<string> { "default" },
            Ephemeral = req.Ephemeral,
        };
        await CheckCopyTargetAsync(record, src, ct);
        // The files are the source's: the next start shifts them from the map they are in.
        if (from.Config.TryGetValue(DiskIdmap, out var disk))
        {
            record.Config[DiskIdmap] = disk;
        }
        record.Config[ApplyTemplate] = "copy";
        return (record, new CopyCreateSource(name, snapshot, source.InstanceOnly || source.ContainerOnly || snapshot is not null));
    }

    /// <summary>"c1" or "c1/snap", each part checked as a name (no "..", no further slashes).</summary>
    private static (string Instance, string? Snapshot) ParseCopySource(string? source)
    {
        if (string.IsNullOrEmpty(source))
        {
            throw new BadRequestException("Must specify a source instance (\"source.source\")");
        }
        var slash = source.IndexOf('/');
        var name = slash < 0 ? source : source[..slash];
        var snapshot = slash < 0 ? null : source[(slash + 1)..];
        try
        {
            Names.ValidateInstanceName(name);
            if (snapshot is not null)
            {
                ValidateSnapshotName(snapshot);
            }
        }
        catch (BadRequestException e)
        {
            throw new BadRequestException($"Invalid copy source \"{source}\": {e.Message}");
        }
        return (name, snapshot);
    }

    /// <summary>The new record as a whole: a free name, valid config, devices and plan, and a pool the volume can go to.</summary>
    private async Task CheckCopyTargetAsync(InstanceRecord record, Expanded src, CancellationToken ct)
    {
        if ((await Repo.ListAsync(ct)).Any(i => i.Name == record.Name))
        {
            throw new ConflictException($"Instance \"{record.Name}\" already exists");
        }
        await ValidateAsync(record, ct);
        var expanded = await ExpandAsync(record, ct);
        await CheckPlanAsync(expanded, ct);
        await CheckDevicesAsync(expanded, ct);
    }

    /// <summary>
    /// Makes the new instance's root volume (and its snapshots) from the source; each step's undo goes on
    /// <paramref name="revert"/>. The source is locked for the copy and quiesced by its driver as for a
    /// snapshot: a running container's live tree is copied (on btrfs, snapshotted) as LXD does.
    /// </summary>
    private async Task CreateRootFromCopyAsync(Expanded e, CopyCreateSource copy, StoragePool pool, Reverter revert, CancellationToken ct)
    {
        using var _ = await _locks.AcquireAsync(copy.Instance, ct);
        var src = await LoadAsync(copy.Instance, ct);
        var snapshots = copy.InstanceOnly ? [] : await Repo.ListSnapshotsAsync(copy.Instance, ct);
        var sourcePool = pools.Get(RootDisk.Find(src.Devices).Pool);
        var driver = DriverOf(src);
        var spec = SpecOf(src);
        await driver.BeforeSnapshotAsync(spec, ct);
        try
        {
            await pool.CopyInstanceVolumeAsync(sourcePool, copy.Instance, copy.Snapshot, e.Record.Name, e.Type,
                snapshots.Select(s => s.Name).ToList(), RootDisk.Size(e.Devices), ct);
        }
        finally
        {
            await driver.AfterSnapshotAsync(spec, CancellationToken.None);
        }
        revert.Add(() => pool.DeleteInstanceVolumeAsync(e.Record.Name, e.Type, CancellationToken.None));
        // Rows after volumes: a snapshot row always has its volume (what a delete after a crash relies on).
        var profiles = (await store.Profiles.ListAsync(ct)).ToDictionary(p => p.Name);
        var (rootKey, _) = RootDisk.Find(e.Devices);
        foreach (var s in snapshots)
        {
            await Repo.CreateSnapshotAsync(e.Record.Name, new InstanceRecord
            {
                Name = s.Name,
                Architecture = s.Architecture,
                Config = s.Config,
                Devices = SnapshotDevicesOn(s, profiles, rootKey, pool.Name),
                Profiles = s.Profiles,
                Ephemeral = s.Ephemeral,
                CreatedAt = s.CreatedAt,
                ExpiresAt = s.ExpiresAt,
            }, ct);
        }
    }

    /// <summary>A copied snapshot's devices, its root disk pointed at the copy's pool (LXD adds a local root disk when a profile gave it).</summary>
    private static Dictionary<string, Dictionary<string, string>> SnapshotDevicesOn(InstanceRecord s, IReadOnlyDictionary<string, Profile> profiles, string rootKey, string pool)
    {
        var devices = s.Devices.ToDictionary(kv => kv.Key, kv => new Dictionary<string, string>(kv.Value));
        (string Device, string Pool) root;
        try
        {
            root = RootDisk.Find(Expand(s, profiles).Devices);
        }
        catch (BadRequestException)
        {
            root = (rootKey, "");
        }
        if (root.Pool == pool)
        {
            return devices;
        }
        if (devices.TryGetValue(root.Device, out var local))
        {
            local["pool"] = pool;
        }
        else
        {
            devices[root.Device] = new() { ["type"] = "disk", ["path"] = "/", ["pool"] = pool };
        }
        return devices;
    }

    /// <summary>
    /// Checks a move to another pool (<c>lxc move c1 [c2] --storage pool</c>: POST with <c>migration</c> and
    /// <c>pool</c>) before the 202: the pool exists, the new name is free, a running instance may be stopped
    /// for it (<paramref name="live"/>, LXD's default) and its type can leave its pool.
    /// </summary>
    public async Task PrepareMoveToPoolAsync(string name, string newName, string pool, bool live, CancellationToken ct)
    {
        Names.ValidateInstanceName(newName);
        if (pools.TryGet(pool) is null)
        {
            throw new BadRequestException($"Storage pool \"{pool}\" not found");
        }
        var e = await LoadAsync(name, ct);
        if (newName != name && (await Repo.ListAsync(ct)).Any(i => i.Name == newName))
        {
            throw new ConflictException($"Instance \"{newName}\" already exists");
        }
        if (!live && (await DriverOf(e).GetStateAsync(SpecOf(e), ct)).Status != InstanceStatus.Stopped)
        {
            throw new BadRequestException("Instance must be stopped to move between pools statelessly");
        }
    }

    /// <summary>
    /// LXD's instancePostPoolMigration: the instance is copied whole (config with its volatile keys, devices with
    /// the root disk on <paramref name="pool"/>, snapshots unless <paramref name="instanceOnly"/>) under a temporary
    /// name, the original deleted, the copy renamed. A failed copy leaves the original as it was; a running instance
    /// is stopped for the move and started again after it.
    /// </summary>
    public async Task MoveToPoolAsync(string name, string newName, string pool, bool instanceOnly, CancellationToken ct)
    {
        var e = await LoadAsync(name, ct);
        var (rootKey, current) = RootDisk.Find(e.Devices);
        if (current == pool)
        {
            if (newName != name)
            {
                await RenameAsync(name, newName, ct);
            }
            return;
        }
        var wasRunning = false;
        using (await _locks.AcquireAsync(name, ct))
        {
            e = await LoadAsync(name, ct);
            if ((await DriverOf(e).GetStateAsync(SpecOf(e), ct)).Status != InstanceStatus.Stopped)
            {
                wasRunning = true;
                await StopLockedAsync(e, force: true, TimeSpan.Zero, ct);
            }
        }
        var devices = e.Record.Devices.ToDictionary(kv => kv.Key, kv => new Dictionary<string, string>(kv.Value));
        devices[rootKey] = new Dictionary<string, string>(e.Devices[rootKey]) { ["pool"] = pool };
        var temporary = newName == name ? "move-" + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()[..6]) : newName;
        var record = new InstanceRecord
        {
            Name = temporary,
            Type = e.Type,
            Architecture = e.Record.Architecture,
            Description = e.Record.Description,
            Config = new Dictionary<string, string>(e.Record.Config),
            Devices = devices,
            Profiles = e.Record.Profiles,
            Ephemeral = e.Record.Ephemeral,
        };
        try
        {
            await CreateAsync(record, new CopyCreateSource(name, null, instanceOnly), ct);
        }
        catch when (wasRunning)
        {
            using (await _locks.AcquireAsync(name, CancellationToken.None))
            {
                await StartLockedAsync(await LoadAsync(name, CancellationToken.None), CancellationToken.None);
            }
            throw;
        }
        using (await _locks.AcquireAsync(name, ct))
        {
            try
            {
                await DeleteLockedAsync(await LoadAsync(name, ct), ct);
            }
            catch
            {
                // The original stays (whatever of it a failed delete left); the copy goes.
                await DeleteAsync(temporary, CancellationToken.None);
                throw;
            }
        }
        if (temporary != newName)
        {
            await RenameAsync(temporary, newName, ct, applyTemplates: false); // LXD: no template applies when moving
        }
        logger.LogInformation("Moved instance {Name} to pool {Pool} as {NewName}", name, pool, newName);
        if (wasRunning)
        {
            using var _ = await _locks.AcquireAsync(newName, ct);
            await StartLockedAsync(await LoadAsync(newName, ct), ct);
        }
    }
}
