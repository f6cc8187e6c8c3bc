using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// <c>lxc copy --storage</c> and <c>lxc move --storage</c> of a virtual machine: its disk (a dir overlay of the
/// source pool's image volume) arrives flattened on the other pool, with its snapshots, and boots there.
/// </summary>
public sealed class VmPoolCopyTests(SharedVmFixture fixture) : IClassFixture<SharedVmFixture>
{
    private const string Vm = SharedVmFixture.Vm;

    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => VmDaemon.LxcOkAsync(D, args);

    private string DiskOf(string pool, string vm) => Path.Combine(D.Dir, "storage-pools", pool, "virtual-machines", vm, "root.img");

    private async Task<string> QemuInfoAsync(string disk) => (await ProcessRunner.RunAsync("qemu-img", new[] { "info", "-U", disk })).Stdout;

    [Fact]
    public async Task Copy_of_a_running_vm_to_a_btrfs_pool_and_move_back_keep_disk_and_snapshots()
    {
        try
        {
            await LxcOkAsync("storage", "create", "vmpool", "btrfs", "size=2GiB");
            await LxcOkAsync("exec", Vm, "--", "sh", "-c", "echo one > /mnt/disk/pool-mark; sync");
            await LxcOkAsync("snapshot", Vm, "p0");
            await LxcOkAsync("exec", Vm, "--", "sh", "-c", "echo two > /mnt/disk/pool-mark; sync");
            Assert.Contains("backing file", await QemuInfoAsync(DiskOf("default", Vm)));

            await LxcOkAsync("copy", Vm, "vmcp", "--storage", "vmpool");
            Assert.Contains("pool: vmpool", await LxcOkAsync("config", "show", "vmcp", "--expanded"));
            Assert.Contains("p0", await LxcOkAsync("info", "vmcp"));
            var info = await QemuInfoAsync(DiskOf("vmpool", "vmcp"));
            Assert.Contains("file format: qcow2", info);
            Assert.DoesNotContain("backing file", info);
            Assert.Empty(Directory.GetDirectories(Path.Combine(D.Dir, "storage-pools", "vmpool"), ".vmcopy-*"));

            await LxcOkAsync("start", "vmcp");
            await VmDaemon.WaitForAgentAsync(D, "vmcp");
            Assert.Equal("two", (await LxcOkAsync("exec", "vmcp", "--", "cat", "/mnt/disk/pool-mark")).Trim());
            await LxcOkAsync("stop", "vmcp", "--force");

            // Back to the dir pool under a new name: a move is a copy, then the original goes.
            await LxcOkAsync("move", "vmcp", "vmmv", "--storage", "default");
            Assert.Equal(System.Net.HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/instances/vmcp")).Status);
            Assert.False(Directory.Exists(Path.Combine(D.Dir, "storage-pools", "vmpool", "virtual-machines", "vmcp")));
            Assert.Contains("pool: default", await LxcOkAsync("config", "show", "vmmv", "--expanded"));
            await LxcOkAsync("restore", "vmmv", "p0");
            await LxcOkAsync("start", "vmmv");
            await VmDaemon.WaitForAgentAsync(D, "vmmv");
            Assert.Equal("one", (await LxcOkAsync("exec", "vmmv", "--", "cat", "/mnt/disk/pool-mark")).Trim());
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "vmcp");
            await D.LxcAsync("delete", "--force", "vmmv");
            await D.LxcAsync("delete", $"{Vm}/p0");
            await D.LxcAsync("exec", Vm, "--", "rm", "-f", "/mnt/disk/pool-mark");
            await D.LxcAsync("storage", "delete", "vmpool");
        }
    }
}
