using System.Runtime.CompilerServices;
using Hyperlxd.Interop.Linux;

namespace Hyperlxd.Tests.Interop;

/// <summary>The layouts Interop.Linux reads or declares, checked against the kernel and coreutils.</summary>
public sealed class StructLayoutTests
{
    /// <summary>The ioctl number encodes the size of its argument (_IOC_SIZE: bits 16..29): the declared structs must match it.</summary>
    [Fact]
    public void Btrfs_ioctl_arguments_have_the_size_their_request_encodes()
    {
        Assert.Equal((int)((Btrfs.IocInoLookup >> 16) & 0x3FFF), Unsafe.SizeOf<Btrfs.InoLookupArgs>());
        Assert.Equal((int)((Btrfs.IocFsInfo >> 16) & 0x3FFF), Unsafe.SizeOf<Btrfs.FsInfoArgs>());
        Assert.Equal(0x94u, (Btrfs.IocInoLookup >> 8) & 0xFF); // BTRFS_IOCTL_MAGIC
        Assert.Equal(0x94u, (Btrfs.IocFsInfo >> 8) & 0xFF);
    }

    /// <summary>lstat through Tmds.LibC's struct stat gives what stat(1) reads for the same nodes.</summary>
    [Theory]
    [InlineData("file")]
    [InlineData("dir")]
    [InlineData("link")]
    public async Task Lstat_agrees_with_stat_1(string name)
    {
        var dir = Directory.CreateTempSubdirectory("hlx-stat-").FullName;
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "file"), new byte[12345]);
            File.SetUnixFileMode(Path.Combine(dir, "file"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.SetGroup);
            Directory.CreateDirectory(Path.Combine(dir, "dir"));
            File.CreateSymbolicLink(Path.Combine(dir, "link"), "file");
            Syscalls.Lchown(Path.Combine(dir, name), 1234, 5678);
            var path = Path.Combine(dir, name);

            var st = Syscalls.LStat(path);
            // %d device, %i inode, %h links, %f raw mode (hex), %u uid, %g gid, %s size; -c does not follow links
            var f = (await HostCommand.RunAsync("stat", ["-c", "%d %i %h %f %u %g %s", path])).Trim().Split(' ');
            Assert.Equal(ulong.Parse(f[0]), st.Device);
            Assert.Equal(ulong.Parse(f[1]), st.Inode);
            Assert.Equal(ulong.Parse(f[2]), st.Links);
            Assert.Equal(Convert.ToUInt32(f[3], 16), st.Mode);
            Assert.Equal(1234u, st.Uid);
            Assert.Equal(5678u, st.Gid);
            Assert.Equal(long.Parse(f[6]), st.Size);
            Assert.Equal(name switch { "file" => NodeKind.Regular, "dir" => NodeKind.Directory, _ => NodeKind.Symlink }, st.Kind);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>
    /// SCM_RIGHTS as glibc lays it out (size_t cmsg_len; Tmds.LibC declares musl's): a helper started with
    /// one end of a socketpair as its fd 3 sends an fd back, which arrives owned and usable.
    /// </summary>
    [Fact]
    public void An_fd_sent_by_a_spawned_helper_arrives_at_the_cmsg_data_offset()
    {
        Assert.Equal(16, Syscalls.CmsgDataOffset);
        var (mine, theirs) = Syscalls.SocketPair();
        using (mine)
        {
            int pid;
            using (theirs)
            {
                pid = Syscalls.Spawn("/usr/bin/python3",
                    ["-c", "import os, socket; socket.send_fds(socket.socket(fileno=3), [b'x'], [os.open('/etc', os.O_RDONLY)])"], theirs, 3);
            }
            SafeFdHandle? fd = null;
            var buffer = new byte[1];
            Assert.Equal(1, Syscalls.ReceiveWithFd(mine, buffer, ref fd));
            using (fd)
            {
                Assert.NotNull(fd);
                Assert.Equal("/etc", new FileInfo($"/proc/self/fd/{(int)fd.DangerousGetHandle()}").LinkTarget);
            }
            Assert.Equal(0, Syscalls.WaitPid(pid)); // exit status 0
        }
    }
}
