using Hyperlxd.Interop.Linux;

namespace Hyperlxd.Tests.Interop;

/// <summary>
/// fds owned by SafeHandles are closed when their owner is disposed, as /proc/self/fd shows: by what each
/// fd refers to (a closed number is reused at once, by the listing of /proc/self/fd itself if nothing else).
/// </summary>
[Collection(nameof(FdCounting))]
public sealed class SafeFdHandleTests
{
    [Fact]
    public void A_socket_pair_is_closed_by_disposing_both_ends()
    {
        var (a, b) = Syscalls.SocketPair();
        var sockets = new[] { Target(a), Target(b) };
        Assert.All(sockets, s => Assert.StartsWith("socket:[", s, StringComparison.Ordinal));
        a.Dispose();
        b.Dispose();
        Assert.DoesNotContain(OpenFds().Values, sockets.Contains);
    }

    [Fact]
    public void Received_fds_are_owned_and_closed()
    {
        var (a, b) = Syscalls.SocketPair();
        using (a)
        using (b)
        {
            Assert.Equal(1, Syscalls.Write(a, "x"u8));
            Assert.True(Syscalls.TryReceiveFd(b, out var n, out var fd));
            using (fd)
            {
                Assert.Equal(1, n);
                Assert.Null(fd); // no SCM_RIGHTS with these bytes
            }
            Assert.False(Syscalls.TryReceiveFd(b, out _, out var none)); // EAGAIN: nothing more yet
            using (none)
            {
                Assert.Null(none);
            }
        }
    }

    [Fact]
    public void A_directory_fd_closes_with_its_handle_and_ToFileHandle_moves_ownership()
    {
        var dir = Syscalls.TryOpenDirectory("/");
        Assert.NotNull(dir);
        var fd = (int)dir.DangerousGetHandle();
        Assert.Equal("/", OpenFds()[fd]);
        var file = dir.ToFileHandle();
        dir.Dispose(); // no longer its owner: the fd stays open
        Assert.Equal("/", OpenFds()[fd]);
        file.Dispose();
        Assert.NotEqual("/", OpenFds().GetValueOrDefault(fd));
    }

    [Fact]
    public void A_failed_spawn_closes_nothing_twice_and_leaks_nothing()
    {
        var before = OpenFds().Values.Count(t => t.StartsWith("socket:", StringComparison.Ordinal));
        for (var i = 0; i < 20; i++)
        {
            var (a, b) = Syscalls.SocketPair();
            using (a)
            using (b)
            {
                Assert.Throws<ErrnoException>(() => Syscalls.Spawn("/nonexistent-hlx/helper", [], b, 3));
            }
        }
        Assert.InRange(OpenFds().Values.Count(t => t.StartsWith("socket:", StringComparison.Ordinal)), 0, before + 5); // other tests may hold a few meanwhile
    }

    private static string Target(System.Runtime.InteropServices.SafeHandle h) => OpenFds()[(int)h.DangerousGetHandle()];

    /// <summary>fd → what it refers to ("/", "socket:[1234]"...).</summary>
    private static Dictionary<int, string> OpenFds()
    {
        var fds = new Dictionary<int, string>();
        foreach (var p in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            if (new FileInfo(p).LinkTarget is { } target)
            {
                fds[int.Parse(Path.GetFileName(p), System.Globalization.CultureInfo.InvariantCulture)] = target;
            }
        }
        return fds;
    }
}

[CollectionDefinition(nameof(FdCounting), DisableParallelization = true)]
public sealed class FdCounting;
