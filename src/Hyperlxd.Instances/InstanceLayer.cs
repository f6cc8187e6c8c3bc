using Hyperlxd.Core.Config;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Images;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Snapshots;
using Hyperlxd.Images;
using Hyperlxd.State;
using Hyperlxd.Storage;
using Hyperlxd.Storage.Drivers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Instances;

/// <summary>Where the instance layer keeps its state: the database, pools' loop files, images, runtime files.</summary>
public sealed record InstanceLayerOptions(string StateDir, string? DatabaseUrl, string DatabaseUser, TimeSpan? DatabaseTimeout = null);

/// <summary>
/// The instance layer as DI services: the state store, the storage pools, the image store and the
/// instance manager (with the profiles on top). The host registers the drivers
/// (<see cref="IInstanceDriver"/>, <see cref="InstanceDrivers"/>) and the <see cref="Core.Events.EventHub"/>,
/// and optionally an <see cref="IServerConfigSource"/> for the image limits.
/// </summary>
public static class InstanceLayerServices
{
    public static IServiceCollection AddInstanceLayer(this IServiceCollection services, InstanceLayerOptions options)
    {
        services.AddSingleton(options);
        services.AddSingleton(new StateStoreOptions(options.StateDir, options.DatabaseUrl, options.DatabaseUser, options.DatabaseTimeout));
        services.AddSingleton<StateStoreProvider>();
        services.AddSingleton(sp => sp.GetRequiredService<StateStoreProvider>().Store);
        // Storage and images use each other through the Core contracts: pools unpack images from the
        // store (lazily, which breaks the cycle), and deleting an image evicts the pools' copies.
        services.AddSingleton(sp => new StoragePools(sp.GetRequiredService<StateStore>(), new StoragePaths(options.StateDir),
            sp.GetRequiredService<ILogger<StoragePools>>(), new Lazy<IImageSource>(sp.GetRequiredService<IImageSource>)));
        services.AddSingleton<IImageCache>(sp => sp.GetRequiredService<StoragePools>());
        services.AddSingleton(sp =>
        {
            var server = sp.GetService<IServerConfigSource>();
            return new ImageStore(Path.Combine(options.StateDir, "images"), sp.GetRequiredService<StateStore>().Images,
                sp.GetRequiredService<IImageCache>(), sp.GetRequiredService<ILogger<ImageStore>>())
            {
                MaxUnpackedSize = () => server?.Config.GetValueOrDefault(ServerConfig.ImagesMaxUnpackedSize) is { Length: > 0 } v && Validators.ParseSize(v) is { } n
                    ? n : ImageStore.DefaultMaxUnpackedSize,
            };
        });
        services.AddSingleton<IImageSource>(sp => sp.GetRequiredService<ImageStore>());
        services.AddSingleton(new InstanceManagerOptions(options.StateDir));
        services.AddSingleton<IProxyForwarders, Proxy.ProxyForwarders>();
        // Snapshot schedules and expiries run on one clock: the system's, or a test clock (HYPERLXD_TEST_CLOCK=1 only).
        services.AddSingleton(_ => SnapshotClock.FromEnvironment());
        services.AddSingleton(sp =>
        {
            var manager = ActivatorUtilities.CreateInstance<InstanceManager>(sp);
            manager.Clock = sp.GetRequiredService<SnapshotClock>();
            return manager;
        });
        services.AddSingleton<Snapshots.SnapshotScheduler>();
        services.AddSingleton<ProfileService>();
        services.AddSingleton<Backups.VolumeBackups>();
        services.AddSingleton<InstanceLayer>();
        return services;
    }
}

/// <summary>
/// Brings the instance layer up and down in the daemon's order: the database, then the pools (mounted
/// again), the images (orphans removed), then the instances (drivers re-attach, autostart). The
/// services that need the open store are resolved here, after it is open.
/// </summary>
public sealed class InstanceLayer(StateStoreProvider state, InstanceDrivers drivers, IServiceProvider services)
{
    private StateStore? _store;
    private StoragePools? _pools;

    /// <summary>Opens the database (first: the daemon reads its own config from it before the rest starts).</summary>
    public async Task OpenAsync(CancellationToken ct)
    {
        await state.OpenAsync(ct);
        _store = state.Store;
    }

    /// <summary>After <see cref="OpenAsync"/>: pools, images, instances.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        _pools = services.GetRequiredService<StoragePools>();
        await _pools.LoadAsync(ct);
        await services.GetRequiredService<ImageStore>().ReconcileAsync(ct);
        await services.GetRequiredService<InstanceManager>().StartupAsync(ct);
        await services.GetRequiredService<Backups.VolumeBackups>().StartAsync(ct);
    }

    /// <summary>Stops the drivers' background work and lets the pools' finish (the store stays open: see <see cref="CloseAsync"/>).</summary>
    public async Task StopAsync()
    {
        foreach (var driver in drivers.All)
        {
            driver.Shutdown();
        }
        if (_pools is not null)
        {
            await _pools.QuiesceAsync();
        }
    }

    /// <summary>Closes the state store: last, after every user of it has stopped.</summary>
    public async Task CloseAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
    }
}
