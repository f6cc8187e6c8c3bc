using System.Reflection;
using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Libvirt;

/// <summary>
/// Loads libvirt once per process: libvirt.so.0 and libvirt-qemu.so.0 through NativeLibrary.TryLoad (a
/// host without them gets false and the reason, never a DllNotFoundException), the assembly's import
/// resolver, libvirt's stderr error printing silenced (virSetErrorFunc with a handler that does nothing;
/// errors reach callers as <see cref="LibvirtException"/>), and the default event loop registered
/// (virEventRegisterDefaultImpl, before any connection is opened) and run by one dedicated background
/// thread for the life of the process: lifecycle events, stream events and keepalives are dispatched there.
/// </summary>
public static unsafe class Libvirt
{
    private static readonly Lock Gate = new();
    private static bool _attempted;
    private static string? _failure;
    private static nint _libvirt;
    private static nint _libvirtQemu;
    private static Version? _version;

    /// <summary>Whether <see cref="TryLoad"/> succeeded.</summary>
    public static bool IsLoaded { get; private set; }

    /// <summary>libvirt's version (virGetVersion), e.g. 9.0.0. Loads libvirt if needed; throws <see cref="InvalidOperationException"/> when it cannot be loaded.</summary>
    public static Version Version
    {
        get
        {
            EnsureLoaded();
            return _version!;
        }
    }

    /// <summary>
    /// Loads and initializes libvirt (idempotent, thread-safe; the result of the first attempt is kept).
    /// False with <paramref name="reason"/> when libvirt.so.0 or libvirt-qemu.so.0 is missing or fails to initialize.
    /// </summary>
    public static bool TryLoad(out string? reason)
    {
        lock (Gate)
        {
            if (!_attempted)
            {
                _attempted = true;
                _failure = Load();
                IsLoaded = _failure == null;
            }
            reason = _failure;
            return IsLoaded;
        }
    }

    // Null on success, else why not.
    private static string? Load()
    {
        if (TryOpen(Native.Lib, Native.QemuLib, out _libvirt, out _libvirtQemu) is { } missing)
        {
            return missing;
        }
        NativeLibrary.SetDllImportResolver(typeof(Libvirt).Assembly, Resolve);

        Native.virSetErrorFunc(0, &IgnoreError);
        if (Native.virInitialize() < 0)
        {
            return "virInitialize failed: " + LibvirtError.Last("virInitialize").LibvirtMessage;
        }
        nuint version;
        if (Native.virGetVersion(&version, null, null) < 0)
        {
            return "virGetVersion failed: " + LibvirtError.Last("virGetVersion").LibvirtMessage;
        }
        // major * 1,000,000 + minor * 1,000 + release
        _version = new Version((int)(version / 1_000_000), (int)(version / 1_000 % 1_000), (int)(version % 1_000));

        if (Native.virEventRegisterDefaultImpl() < 0)
        {
            return "virEventRegisterDefaultImpl failed: " + LibvirtError.Last("virEventRegisterDefaultImpl").LibvirtMessage;
        }
        new Thread(RunEventLoop) { IsBackground = true, Name = "libvirt events" }.Start();
        return null;
    }

    /// <summary>dlopen of both libraries by name: null, or why not (and nothing stays loaded).</summary>
    internal static string? TryOpen(string libvirt, string libvirtQemu, out nint libvirtHandle, out nint libvirtQemuHandle)
    {
        libvirtQemuHandle = 0;
        if (!NativeLibrary.TryLoad(libvirt, out libvirtHandle))
        {
            return $"{libvirt} cannot be loaded (package libvirt0 missing?)";
        }
        if (!NativeLibrary.TryLoad(libvirtQemu, out libvirtQemuHandle))
        {
            NativeLibrary.Free(libvirtHandle);
            libvirtHandle = 0;
            return $"{libvirtQemu} cannot be loaded (package libvirt0 missing?)";
        }
        return null;
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name == Native.Lib ? _libvirt : name == Native.QemuLib ? _libvirtQemu : 0;

    // libvirt has no way to unregister the default implementation: the loop serves the whole process.
    private static void RunEventLoop()
    {
        while (true)
        {
            if (Native.virEventRunDefaultImpl() < 0)
            {
                // Only a broken poll() gets here; don't spin on it.
                Thread.Sleep(100);
            }
        }
    }

    // Replaces libvirt's default handler, which prints every error to stderr. The error stays readable with virGetLastError.
    [UnmanagedCallersOnly]
    private static void IgnoreError(nint userData, Native.ErrorNative* error)
    {
    }

    /// <summary>Loads libvirt or throws <see cref="InvalidOperationException"/> with the reason; every entry point of the binding calls it first.</summary>
    internal static void EnsureLoaded()
    {
        if (!IsLoaded && !TryLoad(out var reason))
        {
            throw new InvalidOperationException("libvirt is not available: " + reason);
        }
    }
}
