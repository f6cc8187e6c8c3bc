using System.Runtime.InteropServices;

namespace Hyperlxd.Interop.Libvirt;

public sealed unsafe partial class LibvirtConnection
{
    private readonly List<LifecycleSubscription> _subscriptions = [];

    /// <summary>
    /// virConnectDomainEventRegisterAny(VIR_DOMAIN_EVENT_ID_LIFECYCLE) for every domain of the connection:
    /// <paramref name="handler"/> gets (domain name, event, detail) on the libvirt event-loop thread, so it
    /// must be quick and must not call libvirt APIs that wait for events (hand work to another thread).
    /// An exception it throws is caught and dropped (none may cross into native code). Dispose the result
    /// to deregister (the connection's Dispose deregisters what is left); a call already under way on the
    /// event thread may still finish after that.
    /// </summary>
    public IDisposable OnLifecycle(Action<string, DomainEventType, int> handler)
    {
        var subscription = new LifecycleSubscription(this, handler);
        // Rooted for libvirt until it calls FreeTarget (after deregistration); freed here if registration fails.
        var target = GCHandle.Alloc(subscription);
        var id = Native.virConnectDomainEventRegisterAny(_handle, 0, Native.VIR_DOMAIN_EVENT_ID_LIFECYCLE, &OnLifecycleEvent, GCHandle.ToIntPtr(target), &FreeTarget);
        if (id < 0)
        {
            var error = LibvirtError.Last("virConnectDomainEventRegisterAny");
            target.Free();
            throw error;
        }
        subscription.Id = id;
        lock (_subscriptions)
        {
            _subscriptions.Add(subscription);
        }
        return subscription;
    }

    private void DisposeSubscriptions()
    {
        LifecycleSubscription[] left;
        lock (_subscriptions)
        {
            left = [.. _subscriptions];
        }
        foreach (var s in left)
        {
            s.Dispose();
        }
    }

    // virConnectDomainEventCallback; dom is borrowed for the call.
    [UnmanagedCallersOnly]
    private static int OnLifecycleEvent(nint conn, nint dom, int evt, int detail, nint opaque)
    {
        try
        {
            if (GCHandle.FromIntPtr(opaque).Target is LifecycleSubscription { IsActive: true } s)
            {
                using var domain = DomainHandle.Borrow(dom);
                var name = LibvirtError.Borrowed(Native.virDomainGetName(domain), "virDomainGetName");
                s.Handler(name, (DomainEventType)evt, detail);
            }
        }
        catch
        {
            // Never across the native frame; the handler was told its exceptions are dropped.
        }
        return 0;
    }

    [UnmanagedCallersOnly]
    private static void FreeTarget(nint opaque) => GCHandle.FromIntPtr(opaque).Free();

    private sealed class LifecycleSubscription(LibvirtConnection owner, Action<string, DomainEventType, int> handler) : IDisposable
    {
        private int _disposed;

        public Action<string, DomainEventType, int> Handler { get; } = handler;

        public int Id { get; set; } = -1;

        public bool IsActive => Volatile.Read(ref _disposed) == 0;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }
            lock (owner._subscriptions)
            {
                owner._subscriptions.Remove(this);
            }
            // Fails only when the connection is already gone (then libvirt dropped the callback itself): nothing to report from a Dispose.
            _ = Native.virConnectDomainEventDeregisterAny(owner._handle, Id);
        }
    }
}
