using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Hyperlxd.Interop.Linux;

/// <summary>
/// A failed syscall: the call (with what it was doing) and its errno. An <see cref="IOException"/>, as the
/// daemon's callers have always seen these (HResult is the errno too), so a failed chown stays a 500 and
/// does not turn into a 403 or 404 of the API.
/// </summary>
public sealed class ErrnoException(int errno, string call)
    : IOException($"{call}: {Marshal.GetPInvokeErrorMessage(errno)}", errno)
{
    public int Errno { get; } = errno;

    /// <summary>What failed, e.g. "lchown /var/lib/x" or the caller's "Failed shifting /x".</summary>
    public string Call { get; } = call;
}

/// <summary>errno to exception, in one place. Expected conditions (EAGAIN, ENOENT on a probe...) are return values of the <c>Try</c> calls instead.</summary>
public static class Errno
{
    /// <summary>errno of the last P/Invoke (Tmds.LibC and this project's imports set it).</summary>
    public static int Last => Marshal.GetLastPInvokeError();

    public static ErrnoException Exception(int errno, string call) => new(errno, call);

    /// <summary>Throws for the last call's errno.</summary>
    public static ErrnoException Throw(string call) => throw Exception(Last, call);

    /// <summary><paramref name="rc"/> as it is when it is not negative; otherwise throws for the last errno.</summary>
    public static int Check(int rc, string call) => rc >= 0 ? rc : throw Exception(Last, call);

    public static nint Check(nint rc, string call) => rc >= 0 ? rc : throw Exception(Last, call);

    // The numbers callers compare an ErrnoException's (or a helper's reported) errno with: Tmds.LibC's, named once here.
#pragma warning disable CA1707 // the C names
    public static int ENOENT => LibC.ENOENT;
    public static int ESRCH => LibC.ESRCH;
    public static int EIO => LibC.EIO;
    public static int EAGAIN => LibC.EAGAIN;
    public static int EEXIST => LibC.EEXIST;
    public static int EXDEV => LibC.EXDEV;
    public static int ENOTDIR => LibC.ENOTDIR;
    public static int EISDIR => LibC.EISDIR;
    public static int EINVAL => LibC.EINVAL;
    public static int ENAMETOOLONG => LibC.ENAMETOOLONG;
    public static int ENOTEMPTY => LibC.ENOTEMPTY;
    public static int ELOOP => LibC.ELOOP;
#pragma warning restore CA1707
}

/// <summary>Signal numbers (Tmds.LibC's).</summary>
public static class Signal
{
    public static int Interrupt => LibC.SIGINT;
    public static int Quit => LibC.SIGQUIT;
    public static int Kill => LibC.SIGKILL;
}
