using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Libvirt;

internal static unsafe partial class Native
{
    internal const int VIR_DOMAIN_EVENT_ID_LIFECYCLE = 0;

    [LibraryImport(Lib)]
    internal static partial int virEventRegisterDefaultImpl();

    [LibraryImport(Lib)]
    internal static partial int virEventRunDefaultImpl();

    /// <summary>
    /// dom: 0 for every domain. cb: a virConnectDomainEventGenericCallback, here the lifecycle one
    /// int (*)(virConnectPtr, virDomainPtr dom (borrowed), int event, int detail, void* opaque);
    /// freecb: void (*)(void* opaque), called once the callback is deregistered (or the connection dies).
    /// Returns the callback id, or -1.
    /// </summary>
    [LibraryImport(Lib)]
    internal static partial int virConnectDomainEventRegisterAny(ConnectHandle conn, nint dom, int eventID, delegate* unmanaged<nint, nint, int, int, nint, int> cb, nint opaque, delegate* unmanaged<nint, void> freecb);

    [LibraryImport(Lib)]
    internal static partial int virConnectDomainEventDeregisterAny(ConnectHandle conn, int callbackID);
}
