using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Libvirt;

/// <summary>
/// Every libvirt entry point this binding calls, in one place (partial by area: connect, domain, stream,
/// event, error, qemu). Only <see cref="Libvirt"/> and the wrapper classes call these; the library names
/// resolve through <see cref="Libvirt.TryLoad"/>'s import resolver. Conventions: <c>const char*</c>
/// inputs are UTF-8 strings; <c>char*</c> results are raw pointers the caller reads and frees
/// (<see cref="LibvirtError.TakeString"/>) or, when documented as borrowed, only reads; pointers to
/// libvirt objects are the SafeHandles. LibvirtSignatureTests compares every declaration here with
/// libvirt-api.xml / libvirt-qemu-api.xml and checks that each symbol exists.
/// </summary>
internal static unsafe partial class Native
{
    internal const string Lib = "libvirt.so.0";
    internal const string QemuLib = "libvirt-qemu.so.0";
}
