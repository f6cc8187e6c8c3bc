using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Libvirt;

internal static unsafe partial class Native
{
    internal const uint VIR_STREAM_NONBLOCK = 1;
    internal const int VIR_STREAM_EVENT_READABLE = 1;
    internal const int VIR_STREAM_EVENT_WRITABLE = 2;
    internal const int VIR_STREAM_EVENT_ERROR = 4;
    internal const int VIR_STREAM_EVENT_HANGUP = 8;

    [LibraryImport(Lib)]
    internal static partial int virStreamFree(nint st);

    /// <summary>&gt; 0 bytes read, 0 end of stream, -1 error, -2 would block (VIR_STREAM_NONBLOCK).</summary>
    [LibraryImport(Lib)]
    internal static partial int virStreamRecv(StreamHandle stream, byte* data, nuint nbytes);

    /// <summary>&gt; 0 bytes sent, -1 error, -2 would block (VIR_STREAM_NONBLOCK).</summary>
    [LibraryImport(Lib)]
    internal static partial int virStreamSend(StreamHandle stream, byte* data, nuint nbytes);

    [LibraryImport(Lib)]
    internal static partial int virStreamFinish(StreamHandle stream);

    [LibraryImport(Lib)]
    internal static partial int virStreamAbort(StreamHandle stream);

    /// <summary>cb: void (*)(virStreamPtr, int events, void* opaque); ff: void (*)(void* opaque), called when the callback is removed.</summary>
    [LibraryImport(Lib)]
    internal static partial int virStreamEventAddCallback(StreamHandle stream, int events, delegate* unmanaged<nint, int, nint, void> cb, nint opaque, delegate* unmanaged<nint, void> ff);

    [LibraryImport(Lib)]
    internal static partial int virStreamEventUpdateCallback(StreamHandle stream, int events);

    [LibraryImport(Lib)]
    internal static partial int virStreamEventRemoveCallback(StreamHandle stream);
}
