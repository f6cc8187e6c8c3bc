using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Libvirt;

/// <summary>
/// One libvirt connection (virConnectPtr), thread-safe like libvirt's own. Every failure throws
/// <see cref="LibvirtException"/>. Domains and streams made from it hold their own reference on the
/// underlying connection, so they stay usable after this object is disposed (libvirt closes the
/// connection when the last reference goes). Dispose deregisters the lifecycle subscriptions left.
/// </summary>
public sealed unsafe partial class LibvirtConnection : IDisposable
{
    private readonly ConnectHandle _handle;

    private LibvirtConnection(ConnectHandle handle, string uri)
    {
        _handle = handle;
        Uri = uri;
    }

    /// <summary>The URI libvirt reports for the connection (virConnectGetURI), e.g. "test:///default".</summary>
    public string Uri { get; }

    internal ConnectHandle Handle => _handle;

    /// <summary>
    /// virConnectOpen (read-write). Loads libvirt first (<see cref="InvalidOperationException"/> when it
    /// cannot be loaded); <see cref="LibvirtException"/> when the connection fails.
    /// </summary>
    public static LibvirtConnection Open(string uri)
    {
        Libvirt.EnsureLoaded();
        var handle = LibvirtError.Check(Native.virConnectOpen(uri), "virConnectOpen");
        try
        {
            return new LibvirtConnection(handle, LibvirtError.TakeString(Native.virConnectGetURI(handle), "virConnectGetURI"));
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>virDomainDefineXML: defines (or redefines) a persistent domain; the caller owns the returned domain.</summary>
    public LibvirtDomain DefineXml(string xml) =>
        new(LibvirtError.Check(Native.virDomainDefineXML(_handle, xml), "virDomainDefineXML"));

    /// <summary>virDomainCreateXML: creates and starts a transient domain (gone once it stops); the caller owns the returned domain.</summary>
    public LibvirtDomain CreateXml(string xml, DomainCreateFlags flags = DomainCreateFlags.None) =>
        new(LibvirtError.Check(Native.virDomainCreateXML(_handle, xml, (uint)flags), "virDomainCreateXML"));

    /// <summary>virDomainLookupByName: the domain, or null when there is none of that name (VIR_ERR_NO_DOMAIN); other errors throw.</summary>
    public LibvirtDomain? LookupDomain(string name)
    {
        var handle = Native.virDomainLookupByName(_handle, name);
        if (!handle.IsInvalid)
        {
            return new LibvirtDomain(handle);
        }
        var error = LibvirtError.Last("virDomainLookupByName");
        handle.Dispose();
        return error.IsNoDomain ? null : throw error;
    }

    /// <summary>virConnectListAllDomains (flags 0: active and inactive, persistent and transient); the caller owns (disposes) each domain.</summary>
    public IReadOnlyList<LibvirtDomain> ListAllDomains()
    {
        nint* array = null;
        var count = LibvirtError.Check(Native.virConnectListAllDomains(_handle, &array, 0), "virConnectListAllDomains");
        var domains = new List<LibvirtDomain>(count);
        try
        {
            // Wrap every element before anything can throw, so none leaks; then free only the array itself.
            for (var i = 0; i < count; i++)
            {
                domains.Add(new LibvirtDomain(DomainHandle.Own(array[i])));
            }
        }
        finally
        {
            NativeMemory.Free(array);
        }
        return domains;
    }

    /// <summary>virConnectGetCapabilities: the host's capabilities XML (malloc'd by libvirt, freed here).</summary>
    public string CapabilitiesXml() =>
        LibvirtError.TakeString(Native.virConnectGetCapabilities(_handle), "virConnectGetCapabilities");

    /// <summary>virStreamNew with VIR_STREAM_NONBLOCK: an unattached stream to hand to <see cref="LibvirtDomain.OpenConsole"/>; the caller owns it.</summary>
    public LibvirtStream NewStream() =>
        new(LibvirtError.Check(Native.virStreamNew(_handle, Native.VIR_STREAM_NONBLOCK), "virStreamNew"));

    public void Dispose()
    {
        DisposeSubscriptions();
        _handle.Dispose();
    }
}
