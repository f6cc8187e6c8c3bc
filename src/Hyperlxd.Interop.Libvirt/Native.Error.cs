using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Libvirt;

internal static unsafe partial class Native
{
    /// <summary>Borrowed, thread-local, overwritten by the thread's next libvirt call: read at once, never free.</summary>
    [LibraryImport(Lib)]
    internal static partial ErrorNative* virGetLastError();

    /// <summary>handler NULL restores libvirt's default (printing to stderr): pass a handler that does nothing instead.</summary>
    [LibraryImport(Lib)]
    internal static partial void virSetErrorFunc(nint userData, delegate* unmanaged<nint, ErrorNative*, void> handler);

    /// <summary>The head of struct _virError (only the fields read; it is always used through a pointer libvirt owns).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct ErrorNative
    {
        public int Code;
        public int Domain;
        public byte* Message;
    }
}
