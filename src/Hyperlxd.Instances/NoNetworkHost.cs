using Hyperlxd.Core;
using Hyperlxd.Core.Networks;

namespace Hyperlxd.Instances;

/// <summary>
/// The networking layer when none is registered (an embedding without <c>Hyperlxd.Networking</c>): every
/// nic and NAT proxy is refused with a 400; removals have nothing to remove.
/// </summary>
public sealed class NoNetworkHost : INetworkHost
{
    private const string Refusal = "Networking is not available on this server: nic devices and NAT proxies cannot be used";

    public Task CheckNicAsync(NicRequest nic, CancellationToken ct) => throw new BadRequestException($"Device \"{nic.Device}\": {Refusal}");

    public Task<NicPlan> PlugNicAsync(NicRequest nic, CancellationToken ct) => throw new BadRequestException($"Device \"{nic.Device}\": {Refusal}");

    public Task UnplugNicAsync(NicRequest nic, CancellationToken ct) => Task.CompletedTask;

    public Task AddProxyNatAsync(ProxyNat rule, CancellationToken ct) => throw new BadRequestException($"Device \"{rule.Device}\": {Refusal}");

    public Task RemoveProxyNatAsync(string instance, string device, CancellationToken ct) => Task.CompletedTask;
}
