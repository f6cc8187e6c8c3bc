using System.Collections.Concurrent;
using Hyperlxd.Core;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Images;
using Hyperlxd.State;
using Hyperlxd.State.Repositories;
using Hyperlxd.Storage.Drivers;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Storage;

/// <summary>
/// The daemon's loaded pools: created, mounted at start, updated and deleted here, with the
/// DB row and the host side kept together by a <see cref="Reverter"/>.
/// </summary>
/// <param name="images">
/// Where pools get image content from: the image store, which itself evicts the pools' copies
/// (<see cref="IImageCache"/>). Lazy, so that DI can build the two without a cycle; read only when an
/// image is first unpacked on a pool.
/// </param>
public sealed class StoragePools(StateStore store, StoragePaths paths, ILogger logger, Lazy<IImageSource>? images = null) : IImageCache, IDisposable
{
    private readonly ConcurrentDictionary<string, StoragePool> _pools = new();
    private readonly SemaphoreSlim _poolLock = new(1, 1);

    public StoragePaths Paths => paths;

    /// <summary>Loads every pool and re-establishes its mount (loop files re-attached). A pool that cannot mount is logged, not fatal.</summary>
    public async Task LoadAsync(CancellationToken ct)
    {
        foreach (var record in await store.Storage.ListPoolsAsync(ct))
        {
            try
            {
                var pool = Bind(record);
                await pool.Driver.MountPoolAsync(ct);
                pool.Driver.SecureLayout();
                await pool.CleanSparesAsync();
                pool.SweepStaging();
                _pools[record.Name] = pool;
            }
            catch (Exception e) when (e is HyperlxdException or IOException)
            {
                logger.LogError("Failed mounting storage pool \"{Pool}\": {Error}", record.Name, e.Message);
            }
        }
    }

    /// <summary>Lets background work on the pools (spare copies being made) finish: at daemon shutdown.</summary>
    public void Dispose() => _poolLock.Dispose();

    public Task QuiesceAsync() => Task.WhenAll(_pools.Values.Select(p => p.WaitForSparesAsync()));

    /// <summary>Unmounts every pool (daemon shutdown in tests; LXD leaves pools mounted in production).</summary>
    public async Task UnmountAllAsync()
    {
        foreach (var p in _pools.Values)
        {
            await p.Driver.UnmountPoolAsync(CancellationToken.None);
        }
    }

    private StoragePool Bind(PoolRecord record) =>
        new(record, DriverRegistry.Create(record.Driver, new PoolSpec(record.Name, new(record.Config), paths)), store.Storage, logger) { ImageSource = images };

    public IReadOnlyCollection<StoragePool> All => _pools.Values.OrderBy(p => p.Name).ToList();

    public StoragePool? TryGet(string name) => _pools.GetValueOrDefault(name);

    public StoragePool Get(string name) =>
        _pools.TryGetValue(name, out var p) ? p : throw new NotFoundException("Storage pool not found");

    /// <summary>Custom volume snapshots past their expiry, with their volume and pool (the pruning task's list).</summary>
    public async Task<List<(StoragePool Pool, VolumeRecord Volume, VolumeSnapshotRecord Snapshot)>> ListExpiredSnapshotsAsync(DateTimeOffset now, CancellationToken ct)
    {
        var expired = await store.Storage.ListExpiredSnapshotsAsync(now, ct);
        if (expired.Count == 0)
        {
            return new();
        }
        var volumes = (await store.Storage.ListVolumesAsync(null, null, ct)).ToDictionary(v => v.Id);
        return expired.Where(s => volumes.ContainsKey(s.VolumeId) && TryGet(volumes[s.VolumeId].Pool) is not null)
            .Select(s => (Get(volumes[s.VolumeId].Pool), volumes[s.VolumeId], s)).ToList();
    }

    /// <summary>Drivers that work on this host, for <c>storage_supported_drivers</c>.</summary>
    public static IEnumerable<DriverStatus> SupportedDrivers => DriverRegistry.Available;

    public async Task<StoragePool> CreateAsync(string? name, string? driver, string description, Dictionary<string, string> config, CancellationToken ct)
    {
        Names.ValidateEntityName("storage pool", name);
        await _poolLock.WaitAsync(ct);
        try
        {
            if (_pools.ContainsKey(name!))
            {
                throw new ConflictException($"Storage pool \"{name}\" already exists");
            }
            var spec = new PoolSpec(name!, new(config), paths);
            var drv = DriverRegistry.Create(driver, spec);
            drv.FillPoolConfig();
            await using var revert = new Reverter();
            var record = new PoolRecord(name!, driver!, description, spec.Config);
            await store.Storage.CreatePoolAsync(record, ct);
            revert.Add(() => store.Storage.DeletePoolAsync(name!, CancellationToken.None));
            try
            {
                await drv.CreatePoolAsync(ct);
            }
            catch (HostCommandException e)
            {
                throw new BadRequestException($"Failed creating storage pool \"{name}\": {e.Message}");
            }
            var pool = new StoragePool(record, drv, store.Storage, logger) { ImageSource = images };
            _pools[name!] = pool;
            revert.Success();
            return pool;
        }
        finally
        {
            _poolLock.Release();
        }
    }

    public async Task UpdateAsync(StoragePool pool, string description, Dictionary<string, string> config, CancellationToken ct)
    {
        var changed = config.Where(kv => pool.Record.Config.GetValueOrDefault(kv.Key) != kv.Value)
            .Concat(pool.Record.Config.Where(kv => !config.ContainsKey(kv.Key)).Select(kv => KeyValuePair.Create(kv.Key, "")))
            .ToDictionary();
        pool.Driver.ValidatePoolUpdate(changed);
        // Only user.* keys may change (the driver refused the others), so the new map is what is stored.
        if (config.Values.Any(v => v.Contains('\0')))
        {
            throw new BadRequestException("Invalid storage pool configuration: a value holds a NUL");
        }
        var stored = config.Where(kv => kv.Value.Length > 0 || pool.Record.Config.ContainsKey(kv.Key) && !DriverBase.IsUserKey(kv.Key)).ToDictionary();
        await store.Storage.UpdatePoolAsync(pool.Name, description, stored, ct);
        pool.Record = pool.Record with { Description = description, Config = stored };
    }

    /// <summary>Refuses while custom/instance volumes or profiles use the pool; cached images go with it.</summary>
    public async Task DeleteAsync(StoragePool pool, CancellationToken ct)
    {
        await _poolLock.WaitAsync(ct);
        try
        {
            var users = (await UsedByAsync(pool, ct)).Where(u => !u.StartsWith("/1.0/images/", StringComparison.Ordinal)).ToList();
            if (users.Count > 0)
            {
                throw new ConflictException($"The storage pool is currently in use by: {string.Join(", ", users)}");
            }
            foreach (var image in await store.Storage.ListVolumesAsync(pool.Name, "image", ct))
            {
                await pool.EvictImageAsync(image.Name, ct);
            }
            await pool.Driver.DeletePoolAsync(ct);
            await store.Storage.DeletePoolAsync(pool.Name, ct);
            _pools.TryRemove(pool.Name, out _);
        }
        finally
        {
            _poolLock.Release();
        }
    }

    /// <summary>LXD's used_by: profiles whose devices name the pool, then its volumes (custom, instances, images).</summary>
    public async Task<List<string>> UsedByAsync(StoragePool pool, CancellationToken ct)
    {
        var users = (await store.Profiles.ListAsync(ct))
            .Where(p => p.Devices.Values.Any(d => d.GetValueOrDefault("pool") == pool.Name))
            .Select(p => ProjectKeys.ProfileUrl(p.Name)).ToList();
        foreach (var v in await store.Storage.ListVolumesAsync(pool.Name, null, ct))
        {
            users.Add(v.Type switch
            {
                "custom" => ProjectKeys.VolumeUrl(pool.Name, v.Type, v.Name),
                "image" => "/1.0/images/" + v.Name,
                _ => ProjectKeys.InstanceUrl(v.Name),
            });
        }
        return users;
    }

    /// <summary>
    /// The key of the custom volume a disk device names, given the project of the instance or profile holding the
    /// device: the volume belongs to the project that one uses for volumes (<see cref="ProjectKeys.VolumeProject"/>).
    /// </summary>
    public async Task<Func<string, string, string>> VolumeKeysAsync(CancellationToken ct)
    {
        var volumeProject = (await store.Projects.ListAsync(ct)).ToDictionary(p => p.Name, p => ProjectKeys.VolumeProject(p.Name, p.Config));
        return (ownerProject, volume) => ProjectKeys.Scoped(volumeProject.GetValueOrDefault(ownerProject, ProjectKeys.Default), volume);
    }

    /// <summary>
    /// LXD's used_by of a custom volume: the instances whose own devices (not their profiles') have a
    /// <c>disk</c> on it, then the profiles that do. A device names a volume of the project its owner uses
    /// for volumes (<see cref="ProjectKeys.VolumeProject"/>).
    /// </summary>
    public async Task<List<string>> VolumeUsedByAsync(string pool, VolumeRecord v, CancellationToken ct)
    {
        if (v.Type != "custom")
        {
            return v.Type == "image" ? new() : new() { ProjectKeys.InstanceUrl(v.Name) };
        }
        var keyOf = await VolumeKeysAsync(ct);
        bool Uses(string ownerProject, Dictionary<string, Dictionary<string, string>> devices) =>
            devices.Values.Any(d => d.GetValueOrDefault("pool") == pool && DiskDevice.VolumeOf(d) is { } name && keyOf(ownerProject, name) == v.Name);
        var users = (await store.Instances.ListAsync(ct)).Where(i => Uses(ProjectKeys.InstanceProject(i.Name), i.Devices))
            .OrderBy(i => i.Name, StringComparer.Ordinal)
            .Select(i => ProjectKeys.InstanceUrl(i.Name)).ToList();
        users.AddRange((await store.Profiles.ListAsync(ct)).Where(p => Uses(ProjectKeys.SplitScoped(p.Name).Project, p.Devices))
            .Select(p => ProjectKeys.ProfileUrl(p.Name)));
        return users;
    }

    public async Task EvictAsync(string fingerprint, CancellationToken ct)
    {
        foreach (var p in _pools.Values)
        {
            await p.EvictImageAsync(fingerprint, ct);
        }
    }
}
