using Hyperlxd.Core;
using Hyperlxd.State.Repositories;

namespace Hyperlxd.Networking;

/// <summary>The parts of the firewall that devices own: proxy DNAT rules (kept in the database) and MAC filters (runtime, per plugged nic).</summary>
public sealed partial class NetworkManager
{
    internal Task AddProxyNatAsync(ProxyNatRecord rule, CancellationToken ct) => LockedAsync(async () =>
    {
        await using var revert = new Reverter();
        await Repo.AddProxyNatAsync(rule, ct);
        revert.Add(() => Repo.RemoveProxyNatAsync(rule.Instance, rule.Device, CancellationToken.None));
        await ApplyFirewallAsync(ct);
        revert.Success();
    }, ct);

    internal Task RemoveProxyNatAsync(string instance, string device, CancellationToken ct) => LockedAsync(async () =>
    {
        if (await Repo.RemoveProxyNatAsync(instance, device, ct))
        {
            await ApplyFirewallAsync(ct);
        }
    }, ct);

    /// <summary>Sets (or, with null, clears) the MAC filter of a host-side veth, re-rendering the rules only when it changed.</summary>
    internal Task SetMacFilterAsync(string hostName, string? hwaddr, CancellationToken ct) => LockedAsync(async () =>
    {
        bool changed;
        lock (_macFilters)
        {
            var had = _macFilters.GetValueOrDefault(hostName);
            if (hwaddr is null)
            {
                changed = _macFilters.Remove(hostName);
            }
            else
            {
                changed = had?.HwAddr != hwaddr;
                _macFilters[hostName] = new MacFilter(hostName, hwaddr);
            }
        }
        if (changed)
        {
            await ApplyFirewallAsync(ct);
        }
    }, ct);
}
