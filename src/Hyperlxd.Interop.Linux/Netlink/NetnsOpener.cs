using System.Collections.Concurrent;

namespace Hyperlxd.Interop.Linux.Netlink;

/// <summary>
/// Makes sockets in other network namespaces on one long-lived dedicated thread: it setns()es into the
/// target, creates the socket (which stays bound to that namespace) and setns()es back to the
/// namespace it started in before taking the next request. Nothing else ever runs on it, and no pool
/// thread changes namespace. A new thread per socket cost ~1 ms here (an instance state per container
/// in `lxc list`); the two setns and the socket cost ~20 µs.
/// </summary>
internal static class NetnsOpener
{
    private static readonly Lock Gate = new();
    private static BlockingCollection<Request>? _queue;

    public static SafeFdHandle Open(string netnsPath, Func<SafeFdHandle> create)
    {
        var request = new Request(netnsPath, create);
        Queue().Add(request);
        return request.Done.Task.GetAwaiter().GetResult();
    }

    private static BlockingCollection<Request> Queue()
    {
        lock (Gate)
        {
            if (_queue is { IsAddingCompleted: false } q)
            {
                return q;
            }
            var queue = new BlockingCollection<Request>();
            var thread = new Thread(() => Serve(queue), maxStackSize: 256 * 1024) { IsBackground = true, Name = "hyperlxd netns" };
            thread.Start();
            return _queue = queue;
        }
    }

    private static void Serve(BlockingCollection<Request> queue)
    {
        try
        {
            using var home = Syscalls.Open("/proc/thread-self/ns/net", Tmds.Linux.LibC.O_RDONLY);
            foreach (var r in queue.GetConsumingEnumerable())
            {
                Handle(r, home);
            }
        }
#pragma warning disable CA1031 // the waiting callers get the failure
        catch (Exception e)
#pragma warning restore CA1031
        {
            // No home namespace, or stuck elsewhere: this thread serves no more; the next caller gets a new one.
            Retire(queue, e);
        }
    }

    /// <summary>One socket; throws only when the thread cannot get back home.</summary>
    private static void Handle(Request r, SafeFdHandle home)
    {
        SafeFdHandle? result = null;
        try
        {
            using (var ns = Syscalls.Open(r.Path, Tmds.Linux.LibC.O_RDONLY))
            {
                Syscalls.SetNetworkNamespace(ns, r.Path);
            }
            result = r.Create();
        }
#pragma warning disable CA1031 // handed to the caller
        catch (Exception e)
#pragma warning restore CA1031
        {
            r.Done.TrySetException(e);
        }
        try
        {
            Syscalls.SetNetworkNamespace(home, "back to the daemon's namespace");
        }
        catch (Exception e)
        {
            result?.Dispose();
            r.Done.TrySetException(e);
            throw;
        }
        if (result is not null && !r.Done.TrySetResult(result))
        {
            result.Dispose();
        }
    }

    private static void Retire(BlockingCollection<Request> queue, Exception e)
    {
        lock (Gate)
        {
            queue.CompleteAdding();
        }
        foreach (var left in queue.GetConsumingEnumerable())
        {
            left.Done.TrySetException(e);
        }
    }

    private sealed record Request(string Path, Func<SafeFdHandle> Create)
    {
        public TaskCompletionSource<SafeFdHandle> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
