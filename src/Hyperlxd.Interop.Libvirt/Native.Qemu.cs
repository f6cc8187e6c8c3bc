using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Libvirt;

internal static unsafe partial class Native
{
    /// <summary>libvirt-qemu.so.0. Result malloc'd: free it. timeout: seconds, or -2 block, -1 default, 0 no wait.</summary>
    [LibraryImport(QemuLib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial byte* virDomainQemuAgentCommand(DomainHandle domain, string cmd, int timeout, uint flags);
}
