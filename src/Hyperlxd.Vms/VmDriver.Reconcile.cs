using Hyperlxd.Core.Instances;
using Hyperlxd.Interop.Libvirt;

namespace Hyperlxd.Vms;

public sealed partial class VmDriver
{
    /// <summary>
    /// At daemon start: libvirt has already re-attached to the QEMU processes that kept running (it reads
    /// its status files when the root opens) and cleaned up after those that died. Left to do: domains of
    /// ours (the prefix) that belong to no instance — deleted or half-created while the daemon was away —
    /// are destroyed and undefined with their NVRAM.
    /// </summary>
    public async Task ReconcileAsync(IReadOnlyCollection<InstanceSpec> known, CancellationToken ct)
    {
        var names = known.Select(k => DomainName(k.Name)).ToHashSet(StringComparer.Ordinal);
        var domains = await Blocking(Connection.ListAllDomains);
        try
        {
            foreach (var domain in domains)
            {
                var name = domain.Name;
                if (name.StartsWith(_options.DomainPrefix, StringComparison.Ordinal) && !names.Contains(name))
                {
                    await Blocking(() => Destroy(domain));
                    Undefine(domain, DomainUndefineFlags.Nvram);
                }
            }
        }
        finally
        {
            foreach (var domain in domains)
            {
                domain.Dispose();
            }
        }
        foreach (var spec in known)
        {
            await CleanupAsync(spec, ct);
        }
    }
}
