using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Libvirt;

// One reference to a libvirt object each, dropped exactly once (Dispose or finalizer), never while a call
// is using it (the LibraryImport SafeHandle marshaller adds a reference for the call). The public
// parameterless constructors are for the marshaller, which builds them from returned pointers.

/// <summary>virConnectPtr, released with virConnectClose.</summary>
internal sealed class ConnectHandle : SafeHandle
{
    public ConnectHandle()
        : base(0, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == 0;

    // > 0 means others (domains, streams, event callbacks) still hold the connection: our reference is gone all the same.
    protected override bool ReleaseHandle() => Native.virConnectClose(handle) >= 0;
}

/// <summary>virDomainPtr, released with virDomainFree.</summary>
internal sealed class DomainHandle : SafeHandle
{
    public DomainHandle()
        : base(0, ownsHandle: true)
    {
    }

    /// <summary>Takes ownership of a reference libvirt handed out (e.g. one element of virConnectListAllDomains).</summary>
    internal static DomainHandle Own(nint domain)
    {
        var h = new DomainHandle();
        h.SetHandle(domain);
        return h;
    }

    /// <summary>A pointer libvirt lends for the length of a callback: used, never freed.</summary>
    internal static DomainHandle Borrow(nint domain) => new(domain);

    private DomainHandle(nint borrowed)
        : base(0, ownsHandle: false) => SetHandle(borrowed);

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => Native.virDomainFree(handle) == 0;
}

/// <summary>virStreamPtr, released with virStreamFree (after <see cref="LibvirtStream"/> finished or aborted it).</summary>
internal sealed class StreamHandle : SafeHandle
{
    public StreamHandle()
        : base(0, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => Native.virStreamFree(handle) == 0;
}
