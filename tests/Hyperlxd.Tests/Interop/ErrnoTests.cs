using Hyperlxd.Interop.Linux;

namespace Hyperlxd.Tests.Interop;

public sealed class ErrnoTests
{
    [Fact]
    public void A_failed_call_is_an_IOException_carrying_errno_and_call()
    {
        var path = "/nonexistent-hlx/" + Guid.NewGuid().ToString("N");
        var e = Assert.Throws<ErrnoException>(() => Syscalls.Lchown(path, 0, 0));
        Assert.IsAssignableFrom<IOException>(e);
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Equal(Errno.ENOENT, e.HResult);
        Assert.Equal("lchown " + path, e.Call);
        Assert.Equal($"lchown {path}: No such file or directory", e.Message);
    }

    [Fact]
    public void Expected_conditions_are_return_values()
    {
        Assert.False(Syscalls.TryLStat("/nonexistent-hlx/x", out _));
        Assert.False(Syscalls.TryLStat("/etc/hostname/below-a-file", out _)); // ENOTDIR
        Assert.Null(Syscalls.TryOpenDirectory("/nonexistent-hlx"));
        Assert.False(Syscalls.Kill(int.MaxValue - 1, 0)); // ESRCH: no such process
    }

    [Fact]
    public void Checked_calls_throw_what_used_to_be_ignored()
    {
        var dir = Directory.CreateTempSubdirectory("hlx-errno-").FullName;
        try
        {
            var fifo = Path.Combine(dir, "fifo");
            Syscalls.MkFifo(fifo, 0x1a4);
            Assert.Equal(NodeKind.Fifo, Syscalls.LStat(fifo).Kind);
            Assert.Equal(Errno.EEXIST, Assert.Throws<ErrnoException>(() => Syscalls.MkFifo(fifo, 0x1a4)).Errno);
            Assert.Equal(Errno.EEXIST, Assert.Throws<ErrnoException>(() => Syscalls.Link(fifo, fifo)).Errno);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void The_errno_numbers_are_the_kernels()
    {
        Assert.Equal(2, Errno.ENOENT);
        Assert.Equal(3, Errno.ESRCH);
        Assert.Equal(5, Errno.EIO);
        Assert.Equal(11, Errno.EAGAIN);
        Assert.Equal(9, Signal.Kill);
    }
}
