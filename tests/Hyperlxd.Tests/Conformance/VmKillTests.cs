using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// Issue 12: kill -9 of the daemon with a VM running. QEMU outlives the daemon (libvirt's embedded
/// driver lives in the daemon's process, QEMU does not); the restarted daemon re-attaches it.
/// </summary>
public sealed class VmKillTests
{
    [Fact]
    public async Task Kill_9_with_a_vm_running_then_restart_keeps_the_same_qemu_and_exec_works()
    {
        await using var d = await VmDaemon.StartAsync();
        const string Name = "vm-kill";
        try
        {
            await VmDaemon.LaunchVmAsync(d, Name);
            await VmDaemon.LxcOkAsync(d, "exec", Name, "--", "sh", "-c", "echo before-kill > /root/mark");
            var pid = await VmDaemon.QemuPidAsync(d, Name);
            Assert.StartsWith("qemu-system", VmDaemon.Comm(pid));
            var bootId = (await VmDaemon.LxcOkAsync(d, "exec", Name, "--", "cat", "/proc/sys/kernel/random/boot_id")).Trim();

            await d.KillAsync();
            Assert.StartsWith("qemu-system", VmDaemon.Comm(pid));
            await d.StartAsync();

            var json = await VmDaemon.ListJsonAsync(d, Name);
            Assert.Equal("Running", json.GetProperty("status").GetString());
            Assert.Equal(pid, json.GetProperty("state").GetProperty("pid").GetInt32());
            // One QEMU for the VM: the restart started none of its own.
            Assert.Single(QemuPidsInNetns(await d.NetnsPidsAsync()));

            await VmDaemon.WaitForAgentAsync(d, Name);
            // The same guest, not a reboot: its boot id and what it held in memory (/root is the initramfs) are unchanged.
            Assert.Equal(bootId, (await VmDaemon.LxcOkAsync(d, "exec", Name, "--", "cat", "/proc/sys/kernel/random/boot_id")).Trim());
            Assert.Equal("before-kill", (await VmDaemon.LxcOkAsync(d, "exec", Name, "--", "cat", "/root/mark")).Trim());
            var exit = await d.LxcAsync("exec", Name, "--", "sh", "-c", "exit 3");
            Assert.Equal(3, exit.ExitCode);

            // The re-attached VM is fully managed: stop --force ends its QEMU.
            await VmDaemon.LxcOkAsync(d, "stop", "--force", Name);
            Assert.Equal("Stopped", (await VmDaemon.ListJsonAsync(d, Name)).GetProperty("status").GetString());
            Assert.Null(VmDaemon.Comm(pid));
        }
        finally
        {
            await d.DeleteAllInstancesAsync();
        }
    }

    private static IEnumerable<int> QemuPidsInNetns(IEnumerable<int> pids) =>
        pids.Where(p => VmDaemon.Comm(p)?.StartsWith("qemu-system", StringComparison.Ordinal) == true);
}
