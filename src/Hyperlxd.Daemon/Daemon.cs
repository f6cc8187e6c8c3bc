using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Daemon.Hosting;
using Hyperlxd.Daemon.Security;
using Hyperlxd.State;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Daemon;

/// <summary>
/// The server itself: its identity, the cached server config (<c>/1.0</c>) and the HTTPS listener
/// that config drives. Everything else a request needs is its own service.
/// </summary>
public sealed class Daemon(DaemonOptions options, StateStore store, ServerCertificate certificate, HttpsListener https, ILogger<Daemon> logger)
    : IServerConfigSource, IDisposable
{
    private readonly SemaphoreSlim _configLock = new(1, 1);
    private volatile Dictionary<string, string> _config = new();

    public DaemonOptions Options => options;
    public ServerCertificate Certificate => certificate;
    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;
    public bool Ready { get; private set; }

    /// <summary>The stored server config; the trust password appears only as its hash.</summary>
    public IReadOnlyDictionary<string, string> Config => _config;

    public async Task LoadConfigAsync(CancellationToken ct) => _config = await store.Config.GetAsync(ct);

    /// <summary>Listens on <c>core.https_address</c> when it is set.</summary>
    public async Task StartHttpsAsync()
    {
        if (_config.GetValueOrDefault(ServerConfig.HttpsAddress) is { Length: > 0 } address)
        {
            try
            {
                await https.ApplyAsync(address);
            }
            catch (HyperlxdException e)
            {
                // A busy port must not keep the daemon (and the unix socket) down.
                logger.LogError("Not listening on HTTPS: {Error}", e.Message);
            }
        }
    }

    public void MarkReady() => Ready = true;

    /// <summary>Minutes the daemon waits for running operations on shutdown (<c>core.shutdown_timeout</c>).</summary>
    public TimeSpan ShutdownTimeout =>
        TimeSpan.FromMinutes(int.TryParse(_config.GetValueOrDefault(ServerConfig.ShutdownTimeout), out var m) ? m : 5);

    /// <summary>The addresses clients can reach HTTPS on (for tokens and <c>environment.addresses</c>).</summary>
    public IReadOnlyList<string> HttpsAddresses => https.Addresses;

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
                await https.ApplyAsync(newAddress);
                revert.Add(() => https.ApplyAsync(oldAddress));
            }
            _config = await store.Config.UpdateAsync(_ => next, ct);
            revert.Success();
        }
        finally
        {
            _configLock.Release();
        }
    }

    public void Dispose() => _configLock.Dispose();
}
