using Hyperlxd.Core;
using Hyperlxd.Interop.Linux.Netlink;
using Hyperlxd.State;
using Hyperlxd.State.Repositories;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Networking;

/// <param name="StateDir">$HYPERLXD_DIR: network files go under networks/&lt;name&gt;/.</param>
/// <param name="Netns">The namespace the networks live in (the daemon's own by default).</param>
public sealed record NetworkManagerOptions(string StateDir, NetworkNamespace? Netns = null);

/// <summary>
/// Managed bridge networks: their rows, bridges (rtnetlink), Hyperlxd's nftables table and one
/// supervised dnsmasq each. Every change is made under one lock and undone by a Reverter when a step
/// fails, so a failed request leaves no bridge, rule, dnsmasq or row. Split by concern: lifecycle
/// (create/update/rename/delete), apply (host side), state (reads for the API), startup.
/// </summary>
public sealed partial class NetworkManager : IDisposable
{
    private readonly NetworkManagerOptions _options;
    private readonly StateStore _store;
    private readonly ILogger<NetworkManager> _logger;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly Dictionary<string, Dnsmasq> _dnsmasq = new();
    private readonly Dictionary<string, MacFilter> _macFilters = new();
    private readonly Lazy<RtNetlink> _netlink;

    public NetworkManager(NetworkManagerOptions options, StateStore store, ILogger<NetworkManager> logger)
    {
        _options = options;
        _store = store;
        _logger = logger;
        Netns = options.Netns ?? NetworkNamespace.Current;
        _netlink = new Lazy<RtNetlink>(Netns.OpenNetlink);
    }

    public NetworkNamespace Netns { get; }

    /// <summary>The rtnetlink socket of the networks' namespace (requests are serialised inside it).</summary>
    internal RtNetlink Netlink => _netlink.Value;

    internal NetworkRepository Repo => _store.Networks;

    internal StateStore Store => _store;

    public static string Url(string name) => "/1.0/networks/" + Uri.EscapeDataString(name);

    internal NetworkPaths PathsOf(string name) => new(Path.Combine(_options.StateDir, "networks", name));

    /// <summary>The managed network, or a 404.</summary>
    public async Task<NetworkRecord> GetManagedAsync(string name, CancellationToken ct) =>
        await Repo.FindAsync(name, ct) ?? throw new NotFoundException("Network not found");

    public Task<List<NetworkRecord>> ListManagedAsync(CancellationToken ct) => Repo.ListAsync(ct);

    private async Task<T> LockedAsync<T>(Func<Task<T>> body, CancellationToken ct)
    {
        await _lock.WaitAsync(ct);
        try
        {
            return await body();
        }
        finally
        {
            _lock.Release();
        }
    }

    private Task LockedAsync(Func<Task> body, CancellationToken ct) => LockedAsync(async () => { await body(); return 0; }, ct);

    /// <summary>Stops supervising the dnsmasqs and leaves them, the bridges and the rules up: instances keep their network over a daemon restart.</summary>
    public void Dispose()
    {
        foreach (var d in _dnsmasq.Values)
        {
            d.Dispose();
        }
        _dnsmasq.Clear();
        if (_netlink.IsValueCreated)
        {
            _netlink.Value.Dispose();
        }
        _lock.Dispose();
    }
}
