using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Operations;
using Hyperlxd.Core.Instances;
using Hyperlxd.Daemon.Hosting;
using Hyperlxd.Daemon.Instances;
using Hyperlxd.Daemon.Security;
using Hyperlxd.State;
using Hyperlxd.Storage;
using Hyperlxd.Storage.Drivers;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Daemon;

/// <summary>
/// What every request handler shares: the state store, operations, events, the server identity,
/// the cached server config and the trust store. One instance serves the unix socket and HTTPS.
/// </summary>
public sealed class Daemon(DaemonOptions options, EventHub events, OperationManager operations, InstanceDrivers drivers, ILoggerFactory loggers) : IAsyncDisposable
{
    private readonly ILogger _logger = loggers.CreateLogger<Daemon>();
    private readonly ConcurrentDictionary<string, Api.Certificate> _trusted = new();
    private readonly SemaphoreSlim _configLock = new(1, 1);
    private volatile Dictionary<string, string> _config = new();
    private StateStore? _store;
    private ServerCertificate? _certificate;
    private HttpsListener? _https;
    private StoragePools? _storage;
    private Images.ImageStore? _images;
    private InstanceManager? _instances;

    public DaemonOptions Options => options;
    public Websockets.StreamSessions Sessions { get; } = new();
    public EventHub Events => events;
    public OperationManager Operations => operations;
    public StateStore Store => _store ?? throw new InvalidOperationException("state not open");
    public StoragePools Storage => _storage ?? throw new InvalidOperationException("storage not loaded");
    public InstanceManager Instances => _instances ?? throw new InvalidOperationException("instances not loaded");
    public Images.ImageStore Images => _images ?? throw new InvalidOperationException("image store not open");
    public ServerCertificate Certificate => _certificate ?? throw new InvalidOperationException("no certificate");
    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;
    public bool Ready { get; private set; }

    /// <summary>The stored server config; the trust password appears only as its hash.</summary>
    public IReadOnlyDictionary<string, string> Config => _config;

    public async Task StartAsync(CancellationToken ct)
    {
        _certificate = ServerCertificate.LoadOrCreate(options.StateDir);
        _store = await StateStore.OpenAsync(options.StateDir, options.DatabaseUrl, options.DatabaseUser, loggers, ct, options.DatabaseTimeout);
        _config = await Store.Config.GetAsync(ct);
        _storage = new StoragePools(Store, new StoragePaths(options.StateDir), loggers.CreateLogger<StoragePools>());
        await _storage.LoadAsync(ct);
        // The image store and the storage tier use each other through the Core contracts: pools unpack
        // images from the store, and deleting an image evicts the pools' unpacked copies.
        _images = new Images.ImageStore(Path.Combine(options.StateDir, "images"), Store.Images,
            _storage, loggers.CreateLogger<Images.ImageStore>())
        {
            MaxUnpackedSize = () => _config.GetValueOrDefault(ServerConfig.ImagesMaxUnpackedSize) is { Length: > 0 } v && Validators.ParseSize(v) is { } n
                ? n : Hyperlxd.Images.ImageStore.DefaultMaxUnpackedSize,
        };
        await _images.ReconcileAsync(ct);
        _storage.ImageSource = _images;
        _instances = new InstanceManager(this, drivers, _storage, _images, loggers.CreateLogger<InstanceManager>());
        await _instances.StartupAsync(ct);
        foreach (var cert in await Store.Certificates.ListAsync(ct))
        {
            Trust(cert);
        }
        _https = new HttpsListener(this, loggers);
        if (_config.GetValueOrDefault(ServerConfig.HttpsAddress) is { Length: > 0 } address)
        {
            try
            {
                await _https.ApplyAsync(address);
            }
            catch (HyperlxdException e)
            {
                // A busy port must not keep the daemon (and the unix socket) down.
                _logger.LogError("Not listening on HTTPS: {Error}", e.Message);
            }
        }
    }

    public void MarkReady() => Ready = true;

    public async Task StopAsync()
    {
        var minutes = int.TryParse(_config.GetValueOrDefault(ServerConfig.ShutdownTimeout), out var m) ? m : 5;
        await operations.ShutdownAsync(TimeSpan.FromMinutes(minutes));
        foreach (var driver in drivers.All)
        {
            driver.Shutdown();
        }
        if (_storage is not null)
        {
            await _storage.QuiesceAsync();
        }
        if (_https is not null)
        {
            await _https.DisposeAsync();
        }
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
    }

    /// <summary>The DI container disposes the daemon after <see cref="StopAsync"/>: release what it built.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_https is not null)
        {
            await _https.DisposeAsync(); // a no-op after StopAsync
        }
        _images?.Dispose();
        _storage?.Dispose();
        _configLock.Dispose();
    }

    /// <summary>The addresses clients can reach HTTPS on (for tokens and <c>environment.addresses</c>).</summary>
    public IReadOnlyList<string> HttpsAddresses => _https?.Addresses ?? Array.Empty<string>();

    /// <summary>
    /// Changes the server config atomically: validate, bind a new HTTPS address if it changed, write
    /// the config, and undo the listener change when the write fails.
    /// </summary>
    public async Task UpdateConfigAsync(Func<Dictionary<string, string>, Dictionary<string, string>> mutate, CancellationToken ct)
    {
        await _configLock.WaitAsync(ct);
        try
        {
            var current = _config;
            var next = mutate(new Dictionary<string, string>(current));
            await using var revert = new Reverter();
            var oldAddress = current.GetValueOrDefault(ServerConfig.HttpsAddress, "");
            var newAddress = next.GetValueOrDefault(ServerConfig.HttpsAddress, "");
            if (oldAddress != newAddress)
            {
                await _https!.ApplyAsync(newAddress);
                revert.Add(() => _https.ApplyAsync(oldAddress));
            }
            _config = await Store.Config.UpdateAsync(_ => next, ct);
            revert.Success();
        }
        finally
        {
            _configLock.Release();
        }
    }

    /// <summary>The trust-store entry of a TLS client certificate, or null when it is not trusted for the API.</summary>
    public async Task<Api.Certificate?> TrustedCertificateAsync(X509Certificate2 cert, CancellationToken ct)
    {
        var fp = Fingerprints.Of(cert);
        if (_trusted.TryGetValue(fp, out var known))
        {
            return known;
        }
        // Another daemon sharing an external database may have added it.
        try
        {
            var stored = await Store.Certificates.GetAsync(fp, ct);
            Trust(stored);
            return _trusted.GetValueOrDefault(fp);
        }
        catch (NotFoundException)
        {
            return null;
        }
    }

    /// <summary>Caches a certificate's trust (and restrictions); metrics certificates never reach the API (LXD).</summary>
    public void Trust(Api.Certificate cert)
    {
        if (cert.Type == "client")
        {
            _trusted[cert.Fingerprint] = cert;
        }
        else
        {
            _trusted.TryRemove(cert.Fingerprint, out _);
        }
    }

    public void Untrust(string fingerprint) => _trusted.TryRemove(fingerprint, out _);
}
