using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Libvirt;

/// <summary>
/// Failed call → <see cref="LibvirtException"/>, in one place. virGetLastError is thread-local and the
/// thread's next libvirt call overwrites it, so every check runs synchronously right after the call it
/// checks, on the same thread (no await, no other libvirt call in between — not even a handle release).
/// Also the one place that turns libvirt's <c>char*</c> results into strings: malloc'd ones are freed,
/// borrowed ones only read.
/// </summary>
internal static unsafe class LibvirtError
{
    /// <summary>The calling thread's last libvirt error as an exception (code 0 when libvirt recorded none).</summary>
    public static LibvirtException Last(string call)
    {
        var e = Native.virGetLastError();
        return e == null
            ? new LibvirtException(0, 0, "unknown libvirt error", call)
            : new LibvirtException(e->Code, e->Domain, Marshal.PtrToStringUTF8((nint)e->Message) ?? "unknown libvirt error", call);
    }

    /// <summary><paramref name="rc"/> when it is not negative; otherwise throws the thread's last error.</summary>
    public static int Check(int rc, string call) => rc >= 0 ? rc : throw Last(call);

    /// <summary>A returned object handle when valid; otherwise throws the thread's last error (the empty handle is dropped after reading it).</summary>
    public static T Check<T>(T handle, string call)
        where T : SafeHandle
    {
        if (!handle.IsInvalid)
        {
            return handle;
        }
        var error = Last(call);
        handle.Dispose();
        throw error;
    }

    /// <summary>A malloc'd <c>char*</c> result: read, then freed (NativeMemory.Free is the C library's free). NULL → the thread's last error.</summary>
    public static string TakeString(byte* value, string call)
    {
        if (value == null)
        {
            throw Last(call);
        }
        try
        {
            return Marshal.PtrToStringUTF8((nint)value) ?? "";
        }
        finally
        {
            NativeMemory.Free(value);
        }
    }

    /// <summary>A borrowed <c>const char*</c> result: read, never freed. NULL → the thread's last error.</summary>
    public static string Borrowed(byte* value, string call) =>
        value == null ? throw Last(call) : Marshal.PtrToStringUTF8((nint)value) ?? "";
}
