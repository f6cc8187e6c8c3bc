using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Linux;

/// <summary>
/// A file descriptor this process owns (sockets of a socketpair, received fds, O_PATH and directory fds):
/// closed exactly once, by whoever disposes it or by the finalizer, never while a call is using it.
/// </summary>
public sealed class SafeFdHandle : SafeHandle
{
    public SafeFdHandle()
        : base(-1, ownsHandle: true)
    {
    }

    public SafeFdHandle(int fd, bool ownsHandle = true)
        : base(-1, ownsHandle) => SetHandle(fd);

    public override bool IsInvalid => (int)handle < 0;

    /// <summary>The fd as a <see cref="Microsoft.Win32.SafeHandles.SafeFileHandle"/> (for a FileStream), which now owns it.</summary>
    public Microsoft.Win32.SafeHandles.SafeFileHandle ToFileHandle()
    {
        var file = new Microsoft.Win32.SafeHandles.SafeFileHandle(handle, ownsHandle: true);
        SetHandleAsInvalid();
        return file;
    }

    protected override bool ReleaseHandle() => Tmds.Linux.LibC.close((int)handle) == 0;
}

/// <summary>The fd of a SafeHandle for the length of one call: the handle cannot be closed (and the number reused) meanwhile.</summary>
internal ref struct FdUse
{
    private readonly SafeHandle _handle;
    private bool _added;

    public FdUse(SafeHandle handle)
    {
        _handle = handle;
        handle.DangerousAddRef(ref _added);
        Fd = (int)handle.DangerousGetHandle();
    }

    public int Fd { get; }

    public void Dispose()
    {
        if (_added)
        {
            _handle.DangerousRelease();
            _added = false;
        }
    }
}
