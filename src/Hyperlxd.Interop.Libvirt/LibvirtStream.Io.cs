using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Libvirt;

// Why non-blocking: a blocking virStreamRecv cannot be interrupted safely (aborting a stream another
// thread is inside is racy across drivers), and it would pin a thread-pool thread per console. The
// stream is made with VIR_STREAM_NONBLOCK (virsh console works the same way): recv/send return -2 when
// they would block, and the caller then awaits a readiness callback that libvirt's event-loop thread
// invokes (virStreamEventAddCallback). A cancelled wait just stops waiting; the stream is untouched, so
// a later read continues where this one left off. The callback is armed only while someone waits
// (libvirt's loop is level-triggered: an armed, unread stream would fire continuously).
public sealed partial class LibvirtStream
{
    private const int WouldBlock = -2;
    private const int Hangup = Native.VIR_STREAM_EVENT_HANGUP | Native.VIR_STREAM_EVENT_ERROR;

    private readonly Lock _gate = new();
    private TaskCompletionSource? _readable;
    private TaskCompletionSource? _writable;
    private bool _callbackAdded;
    private int _armed;
    private bool _endSeen;
    private bool _released;

    // > 0 bytes, 0 end of stream, WouldBlock; errors throw (read on this thread, right after the call).
    private unsafe int TryRecv(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }
        int n;
        fixed (byte* p = buffer)
        {
            n = Native.virStreamRecv(_handle, p, (nuint)buffer.Length);
        }
        if (n == -1)
        {
            throw LibvirtError.Last("virStreamRecv");
        }
        _endSeen |= n == 0;
        return n;
    }

    private unsafe int TrySend(ReadOnlySpan<byte> buffer)
    {
        int n;
        fixed (byte* p = buffer)
        {
            n = Native.virStreamSend(_handle, p, (nuint)buffer.Length);
        }
        return n == -1 ? throw LibvirtError.Last("virStreamSend") : n;
    }

    // Completes when the stream may be ready for `events` (one of READABLE / WRITABLE), or it hung up.
    private async Task WaitAsync(int events, CancellationToken cancellationToken)
    {
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_released, this);
            ref var slot = ref events == Native.VIR_STREAM_EVENT_READABLE ? ref _readable : ref _writable;
            if (slot != null)
            {
                throw new InvalidOperationException(events == Native.VIR_STREAM_EVENT_READABLE ? "A read is already pending on this stream" : "A write is already pending on this stream");
            }
            slot = waiter;
            ArmLocked();
        }
        using (cancellationToken.Register(() => Cancel(waiter, cancellationToken)))
        {
            await waiter.Task;
        }
    }

    private void Cancel(TaskCompletionSource waiter, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_readable == waiter)
            {
                _readable = null;
            }
            else if (_writable == waiter)
            {
                _writable = null;
            }
            if (!_released)
            {
                ArmLocked();
            }
        }
        waiter.TrySetCanceled(cancellationToken);
    }

    // Registers (once) or updates the callback to the events someone waits for. Under _gate. If libvirt
    // refuses, the waiters fail with its error (the stream is unusable).
    private unsafe void ArmLocked()
    {
        var wanted = (_readable != null ? Native.VIR_STREAM_EVENT_READABLE : 0) | (_writable != null ? Native.VIR_STREAM_EVENT_WRITABLE : 0);
        if (!_callbackAdded)
        {
            // Rooted for libvirt until it calls FreeTarget, after the callback is removed.
            var target = GCHandle.Alloc(this);
            if (Native.virStreamEventAddCallback(_handle, wanted, &OnStreamEvent, GCHandle.ToIntPtr(target), &FreeTarget) < 0)
            {
                var error = LibvirtError.Last("virStreamEventAddCallback");
                target.Free();
                FailWaitersLocked(error);
                return;
            }
            _callbackAdded = true;
        }
        else if (wanted != _armed && Native.virStreamEventUpdateCallback(_handle, wanted) < 0)
        {
            FailWaitersLocked(LibvirtError.Last("virStreamEventUpdateCallback"));
            return;
        }
        _armed = wanted;
    }

    private void FailWaitersLocked(Exception error)
    {
        _readable?.TrySetException(error);
        _writable?.TrySetException(error);
        _readable = _writable = null;
    }

    // Runs on libvirt's event-loop thread: wake the waiters the events concern, disarm what nobody waits for.
    private void OnEvents(int events)
    {
        TaskCompletionSource? reader = null, writer = null;
        lock (_gate)
        {
            if (_released)
            {
                return;
            }
            if ((events & (Native.VIR_STREAM_EVENT_READABLE | Hangup)) != 0)
            {
                (reader, _readable) = (_readable, null);
            }
            if ((events & (Native.VIR_STREAM_EVENT_WRITABLE | Hangup)) != 0)
            {
                (writer, _writable) = (_writable, null);
            }
            ArmLocked();
        }
        reader?.TrySetResult();
        writer?.TrySetResult();
    }

    // Dispose: remove the callback, finish (after the end was read) or abort, free; pending waits fail.
    private void Release()
    {
        TaskCompletionSource? reader, writer;
        lock (_gate)
        {
            if (_released)
            {
                return;
            }
            _released = true;
            (reader, _readable) = (_readable, null);
            (writer, _writable) = (_writable, null);
        }
        // Results ignored: a stream that failed or was never attached cannot be finished or aborted, and Dispose reports nothing.
        if (_callbackAdded)
        {
            _ = Native.virStreamEventRemoveCallback(_handle);
        }
        _ = _endSeen ? Native.virStreamFinish(_handle) : Native.virStreamAbort(_handle);
        _handle.Dispose();
        reader?.TrySetException(new ObjectDisposedException(nameof(LibvirtStream)));
        writer?.TrySetException(new ObjectDisposedException(nameof(LibvirtStream)));
    }

    [UnmanagedCallersOnly]
    private static void OnStreamEvent(nint stream, int events, nint opaque)
    {
        try
        {
            (GCHandle.FromIntPtr(opaque).Target as LibvirtStream)?.OnEvents(events);
        }
        catch
        {
            // Never across the native frame.
        }
    }

    [UnmanagedCallersOnly]
    private static void FreeTarget(nint opaque) => GCHandle.FromIntPtr(opaque).Free();
}
