using System.Collections.Concurrent;
using Hyperlxd.Core.Instances;
using Hyperlxd.Interop.Libvirt;

namespace Hyperlxd.Vms;

public sealed partial class VmDriver
{
    /// <summary>What <see cref="BeforeSnapshotAsync"/> did to a running VM, for <see cref="AfterSnapshotAsync"/> to undo.</summary>
    private readonly ConcurrentDictionary<string, (bool Thaw, bool Resume)> _quiesced = new(StringComparer.Ordinal);

    /// <summary>
    /// A running VM is quiesced for the storage snapshot of its disk: the guest's filesystems frozen
    /// through the agent (best effort: a guest without an agent or freezable filesystems is only paused),
    /// then its CPUs paused so QEMU writes nothing while the disk is copied.
    /// </summary>
    public async Task BeforeSnapshotAsync(InstanceSpec spec, CancellationToken ct)
    {
        using var domain = Lookup(spec);
        if (domain is null || domain.GetState().State is not (DomainState.Running or DomainState.Blocked))
        {
            return;
        }
        var thaw = false;
        try
        {
            await Agent(spec, 2).FreezeAsync(ct);
            thaw = true;
        }
        catch (GuestAgentException)
        {
            // no agent, or nothing it can freeze
        }
        _quiesced[spec.Name] = (thaw, false);
        await Blocking(domain.Suspend);
        _quiesced[spec.Name] = (thaw, true);
    }

    /// <summary>Undoes <see cref="BeforeSnapshotAsync"/> (also after a failed snapshot): resume, then thaw.</summary>
    public async Task AfterSnapshotAsync(InstanceSpec spec, CancellationToken ct)
    {
        if (!_quiesced.TryRemove(spec.Name, out var done))
        {
            return;
        }
        using var domain = Lookup(spec);
        if (domain is null)
        {
            return;
        }
        if (done.Resume)
        {
            try
            {
                await Blocking(domain.Resume);
            }
            catch (LibvirtException e) when (e.IsOperationInvalid || e.IsNoDomain)
            {
            }
        }
        if (done.Thaw)
        {
            try
            {
                await Agent(spec).ThawAsync(CancellationToken.None);
            }
            catch (GuestAgentException)
            {
            }
        }
    }
}
