using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Libvirt;

public sealed unsafe partial class LibvirtConnection
{
    /// <summary>
    /// virConnectDomainEventRegisterAny(VIR_DOMAIN_EVENT_ID_LIFECYCLE) for every domain of the connection:
    /// <paramref name="handler"/> gets (domain name, event, detail) on the libvirt event-loop thread, so it
    /// must be quick and must not block on libvirt calls that wait for events. An exception it throws is
    /// caught and dropped (none may cross into native code). Dispose the result to deregister (the
    /// connection's Dispose deregisters what is left).
    /// </summary>
    public IDisposable OnLifecycle(Action<string, DomainEventType, int> handler)
    {
        throw new NotImplementedException();
    }

    private void DisposeSubscriptions()
    {
    }
}
