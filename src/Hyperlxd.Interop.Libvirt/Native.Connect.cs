using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Libvirt;

internal static unsafe partial class Native
{
    [LibraryImport(Lib)]
    internal static partial int virInitialize();

    /// <summary>libVer/typeVer are <c>unsigned long*</c> (8 bytes on x86_64: nuint).</summary>
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int virGetVersion(nuint* libVer, string? type, nuint* typeVer);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial ConnectHandle virConnectOpen(string? name);

    /// <summary>Drops the caller's reference: 0 when the connection is gone, &gt; 0 while domains/streams/callbacks still hold it, -1 on error.</summary>
    [LibraryImport(Lib)]
    internal static partial int virConnectClose(nint conn);

    /// <summary>Malloc'd: free it.</summary>
    [LibraryImport(Lib)]
    internal static partial byte* virConnectGetURI(ConnectHandle conn);

    /// <summary>Malloc'd: free it.</summary>
    [LibraryImport(Lib)]
    internal static partial byte* virConnectGetCapabilities(ConnectHandle conn);

    /// <summary>*domains: a malloc'd array of owned virDomainPtr (each freed with virDomainFree, the array with free).</summary>
    [LibraryImport(Lib)]
    internal static partial int virConnectListAllDomains(ConnectHandle conn, nint** domains, uint flags);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial DomainHandle virDomainDefineXML(ConnectHandle conn, string xml);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial DomainHandle virDomainCreateXML(ConnectHandle conn, string xmlDesc, uint flags);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial DomainHandle virDomainLookupByName(ConnectHandle conn, string name);

    [LibraryImport(Lib)]
    internal static partial StreamHandle virStreamNew(ConnectHandle conn, uint flags);
}
