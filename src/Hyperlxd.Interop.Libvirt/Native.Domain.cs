using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Libvirt;

internal static unsafe partial class Native
{
    [LibraryImport(Lib)]
    internal static partial int virDomainFree(nint domain);

    /// <summary>Borrowed (valid while the domain object lives): never free it.</summary>
    [LibraryImport(Lib)]
    internal static partial byte* virDomainGetName(DomainHandle domain);

    /// <summary>buf: VIR_UUID_STRING_BUFLEN (37) bytes, filled with the NUL-terminated UUID.</summary>
    [LibraryImport(Lib)]
    internal static partial int virDomainGetUUIDString(DomainHandle domain, byte* buf);

    /// <summary>(unsigned int)-1 for a domain that is not running.</summary>
    [LibraryImport(Lib)]
    internal static partial uint virDomainGetID(DomainHandle domain);

    [LibraryImport(Lib)]
    internal static partial int virDomainCreateWithFlags(DomainHandle domain, uint flags);

    [LibraryImport(Lib)]
    internal static partial int virDomainDestroy(DomainHandle domain);

    [LibraryImport(Lib)]
    internal static partial int virDomainShutdown(DomainHandle domain);

    [LibraryImport(Lib)]
    internal static partial int virDomainReboot(DomainHandle domain, uint flags);

    [LibraryImport(Lib)]
    internal static partial int virDomainSuspend(DomainHandle domain);

    [LibraryImport(Lib)]
    internal static partial int virDomainResume(DomainHandle domain);

    [LibraryImport(Lib)]
    internal static partial int virDomainUndefineFlags(DomainHandle domain, uint flags);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int virDomainRename(DomainHandle dom, string new_name, uint flags);

    [LibraryImport(Lib)]
    internal static partial int virDomainGetInfo(DomainHandle domain, DomainInfoNative* info);

    [LibraryImport(Lib)]
    internal static partial int virDomainGetState(DomainHandle domain, int* state, int* reason, uint flags);

    /// <summary>Malloc'd: free it.</summary>
    [LibraryImport(Lib)]
    internal static partial byte* virDomainGetXMLDesc(DomainHandle domain, uint flags);

    [LibraryImport(Lib)]
    internal static partial int virDomainSetVcpusFlags(DomainHandle domain, uint nvcpus, uint flags);

    /// <summary>memory: KiB, <c>unsigned long</c> (nuint on x86_64).</summary>
    [LibraryImport(Lib)]
    internal static partial int virDomainSetMemoryFlags(DomainHandle domain, nuint memory, uint flags);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int virDomainAttachDeviceFlags(DomainHandle domain, string xml, uint flags);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int virDomainDetachDeviceFlags(DomainHandle domain, string xml, uint flags);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int virDomainInterfaceStats(DomainHandle dom, string device, InterfaceStatsNative* stats, nuint size);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int virDomainBlockStats(DomainHandle dom, string disk, BlockStatsNative* stats, nuint size);

    /// <summary>Fills up to <paramref name="nr_stats"/> tag/value pairs (KiB, counts); returns how many.</summary>
    [LibraryImport(Lib)]
    internal static partial int virDomainMemoryStats(DomainHandle dom, MemoryStatNative* stats, uint nr_stats, uint flags);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int virDomainOpenConsole(DomainHandle dom, string? dev_name, StreamHandle st, uint flags);

    /// <summary>virDomainInfo: unsigned char state; unsigned long maxMem, memory; unsigned short nrVirtCpu; unsigned long long cpuTime.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct DomainInfoNative
    {
        public byte State;
        public nuint MaxMem;
        public nuint Memory;
        public ushort NrVirtCpu;
        public ulong CpuTime;
    }

    /// <summary>virDomainInterfaceStatsStruct: eight long long counters.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct InterfaceStatsNative
    {
        public long RxBytes, RxPackets, RxErrs, RxDrop, TxBytes, TxPackets, TxErrs, TxDrop;
    }

    /// <summary>virDomainMemoryStatStruct: a virDomainMemoryStatTags value and its value.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct MemoryStatNative
    {
        public int Tag;
        public ulong Val;
    }

    // virDomainMemoryStatTags the binding reads (values checked by LibvirtSignatureTests).
    internal const int VIR_DOMAIN_MEMORY_STAT_UNUSED = 4;
    internal const int VIR_DOMAIN_MEMORY_STAT_AVAILABLE = 5;
    internal const int VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON = 6;
    internal const int VIR_DOMAIN_MEMORY_STAT_RSS = 7;
    internal const int VIR_DOMAIN_MEMORY_STAT_USABLE = 8;
    internal const int VIR_DOMAIN_MEMORY_STAT_DISK_CACHES = 10;
    internal const int VIR_DOMAIN_MEMORY_STAT_NR = 13;

    /// <summary>virDomainBlockStatsStruct: five long long counters.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct BlockStatsNative
    {
        public long RdReq, RdBytes, WrReq, WrBytes, Errs;
    }
}
