using Hyperlxd.Interop.Linux;

namespace Hyperlxd.Tests.Interop;

/// <summary>fds owned by SafeHandles are closed when their owner is disposed (counted in /proc/self/fd).</summary>
[Collection(nameof(FdCounting))]
public sealed class SafeFdHandleTests
{
    [Fact]
    public void A_socket_pair_is_closed_by_disposing_both_ends()
    {
        var before = OpenFds();
        var (a, b) = Syscalls.SocketPair();
        Assert.True(OpenFds().IsSupersetOf([(int)a.DangerousGetHandle(), (int)b.DangerousGetHandle()]));
        var fds = new[] { (int)a.DangerousGetHandle(), (int)b.DangerousGetHandle() };
        a.Dispose();
        b.Dispose();
        Assert.DoesNotContain(OpenFds(), fd => fds.Contains(fd) && !before.Contains(fd));
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
            Assert.Equal(1, n);
            Assert.Null(fd); // no SCM_RIGHTS with these bytes
            Assert.False(Syscalls.TryReceiveFd(b, out _, out _)); // EAGAIN: nothing more yet
        }
    }

    [Fact]
    public void A_directory_fd_closes_with_its_handle_and_ToFileHandle_moves_ownership()
    {
        var dir = Syscalls.TryOpenDirectory("/");
        Assert.NotNull(dir);
        var fd = (int)dir.DangerousGetHandle();
        Assert.Contains(fd, OpenFds());
        var file = dir.ToFileHandle();
        dir.Dispose(); // no longer its owner: the fd stays open
        Assert.Contains(fd, OpenFds());
        file.Dispose();
        Assert.DoesNotContain(fd, OpenFds());
    }

    [Fact]
    public void A_failed_spawn_closes_nothing_twice_and_leaks_nothing()
    {
        var before = OpenFds().Count;
        for (var i = 0; i < 20; i++)
        {
            var (a, b) = Syscalls.SocketPair();
            using (a)
            using (b)
            {
                Assert.Throws<ErrnoException>(() => Syscalls.Spawn("/nonexistent-hlx/helper", [], b, 3));
            }
        }
        Assert.InRange(OpenFds().Count, 0, before + 5); // other tests' threads may hold a few meanwhile
    }

    private static HashSet<int> OpenFds() =>
        Directory.EnumerateFileSystemEntries("/proc/self/fd").Select(p => int.Parse(Path.GetFileName(p), System.Globalization.CultureInfo.InvariantCulture)).ToHashSet();
}

[CollectionDefinition(nameof(FdCounting), DisableParallelization = true)]
public sealed class FdCounting;
