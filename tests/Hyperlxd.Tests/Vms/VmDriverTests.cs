using System.Text;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.Vms;

namespace Hyperlxd.Tests.Vms;

/// <summary>
/// One VM of the test image booted on real QEMU (TCG) through the embedded libvirt driver, shared by
/// the facts of this class (a boot takes seconds): exec, files, state, console log, and a daemon-like
/// restart of the driver.
/// </summary>
[Collection("vms")]
public sealed class VmDriverTests(VmHost host) : IAsyncLifetime
{
    private static InstanceSpec? _spec;

    private InstanceSpec Spec => _spec!;

    public async Task InitializeAsync()
    {
        if (_spec is null)
        {
            var spec = await host.NewInstanceAsync();
            await host.Driver.PrepareAsync(spec, default);
            await host.Driver.StartAsync(spec, default);
            await host.WaitForAgentAsync(spec);
            _spec = spec;
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Exec_returns_the_commands_stdout_and_exit_code()
    {
        var (code, stdout, _) = await host.ExecAsync(Spec, ["cat", "/proc/cpuinfo"]);
        Assert.Equal(0, code);
        Assert.Contains("processor", stdout);

        var (failed, _, stderr) = await host.ExecAsync(Spec, ["/bin/sh", "-c", "echo oops >&2; exit 3"]);
        Assert.Equal(3, failed);
        Assert.Equal("oops\n", stderr);
    }

    [Fact]
    public async Task Exec_feeds_stdin_and_reports_a_missing_command_as_127()
    {
        var (code, stdout, _) = await host.ExecAsync(Spec, ["cat"], "hello from the host\n");
        Assert.Equal(0, code);
        Assert.Equal("hello from the host\n", stdout);

        var (missing, _, stderr) = await host.ExecAsync(Spec, ["/no/such/program"]);
        Assert.Equal(127, missing);
        Assert.Contains("No such file or directory", stderr);
    }

    [Fact]
    public async Task Exec_refuses_an_interactive_terminal_and_other_users()
    {
        var tty = await Assert.ThrowsAsync<BadRequestException>(() =>
            host.Driver.ExecAsync(Spec, new ExecOptions(["sh"], new Dictionary<string, string>(), true, 80, 24, 0, 0, ""), default));
        Assert.Contains("interactive exec", tty.Message);
        var user = await Assert.ThrowsAsync<BadRequestException>(() =>
            host.Driver.ExecAsync(Spec, new ExecOptions(["id"], new Dictionary<string, string>(), false, 0, 0, 1000, 1000, ""), default));
        Assert.Contains("root", user.Message);
    }

    [Fact]
    public async Task Files_are_pushed_pulled_and_deleted_through_the_agent()
    {
        // Larger than one agent chunk, so the transfer takes several requests each way.
        var data = Enumerable.Range(0, 200_000).Select(i => (byte)(i * 7)).ToArray();
        await host.Driver.PutFileAsync(Spec, "/tmp/pushed", new FileWrite(FileType.File, 0, 0, Convert.ToUInt32("640", 8), false, null), new MemoryStream(data), default);
        await using (var file = await host.Driver.GetFileAsync(Spec, "/tmp/pushed", default))
        {
            Assert.Equal(FileType.File, file.Type);
            Assert.Equal(Convert.ToUInt32("640", 8), file.Mode);
            using var back = new MemoryStream();
            await file.Content!.CopyToAsync(back);
            Assert.Equal(data, back.ToArray());
        }
        await using (var dir = await host.Driver.GetFileAsync(Spec, "/tmp", default))
        {
            Assert.Equal(FileType.Directory, dir.Type);
            Assert.Contains("pushed", dir.Entries!);
        }
        await host.Driver.DeleteFileAsync(Spec, "/tmp/pushed", default);
        await Assert.ThrowsAsync<NotFoundException>(() => host.Driver.GetFileAsync(Spec, "/tmp/pushed", default));
    }

    [Fact]
    public async Task State_reports_the_qemu_process_cpu_memory_and_disk()
    {
        var state = await host.Driver.GetStateAsync(Spec, default);
        Assert.Equal(InstanceStatus.Running, state.Status);
        Assert.True(state.Pid > 0);
        Assert.Contains("qemu-system", await File.ReadAllTextAsync($"/proc/{state.Pid}/cmdline"));
        Assert.True(state.CpuNanoseconds > 0);
        Assert.True(state.MemoryBytes > 0);
        Assert.True(state.DiskUsage["root"] > 0);
        Assert.Contains("lo", state.Network.Keys); // from the guest agent
    }

    [Fact]
    public async Task Console_log_holds_the_guest_serial_output_and_the_instance_log_the_accelerator()
    {
        Assert.NotEmpty(await host.Driver.ConsoleLogAsync(Spec, default));
        var log = await File.ReadAllTextAsync(Path.Combine(Spec.StateDir, "qemu.log"));
        Assert.Contains("accelerator: tcg", log);
    }

    [Fact]
    public async Task Console_is_the_guests_serial_shell_in_both_directions()
    {
        await using var console = await host.Driver.ConsoleAsync(Spec, default);
        // The image runs a shell on its serial console; only its output can hold the computed value.
        await console.WriteAsync("\necho con-$((6*7))\n"u8.ToArray());
        await console.FlushAsync();
        var seen = new StringBuilder();
        var buffer = new byte[4096];
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!seen.ToString().Contains("con-42", StringComparison.Ordinal) && !bound.IsCancellationRequested)
        {
            var n = await console.ReadAsync(buffer, bound.Token).AsTask().WaitAsync(bound.Token).ContinueWith(t => t.IsCompletedSuccessfully ? t.Result : 0);
            if (n == 0 && !bound.IsCancellationRequested)
            {
                break;
            }
            seen.Append(Encoding.UTF8.GetString(buffer, 0, n));
        }
        Assert.True(seen.ToString().Contains("con-42", StringComparison.Ordinal), "console output: " + seen);
    }

    [Fact]
    public async Task Freeze_pauses_the_vm_and_unfreeze_resumes_it()
    {
        await host.Driver.FreezeAsync(Spec, default);
        Assert.Equal(InstanceStatus.Frozen, await host.Driver.GetStatusAsync(Spec, default));
        await host.Driver.UnfreezeAsync(Spec, default);
        Assert.Equal(InstanceStatus.Running, await host.Driver.GetStatusAsync(Spec, default));
    }

    [Fact]
    public async Task Snapshot_hooks_quiesce_a_running_vm_and_always_resume_it()
    {
        await host.Driver.BeforeSnapshotAsync(Spec, default);
        Assert.Equal(InstanceStatus.Frozen, await host.Driver.GetStatusAsync(Spec, default));
        await host.Driver.AfterSnapshotAsync(Spec, default);
        Assert.Equal(InstanceStatus.Running, await host.Driver.GetStatusAsync(Spec, default));
        Assert.Equal(0, (await host.ExecAsync(Spec, ["/bin/true"])).Code);
    }

    [Fact]
    public async Task A_new_driver_on_the_same_root_finds_the_vm_running_with_the_same_qemu_and_exec_works()
    {
        var before = await host.Driver.GetStateAsync(Spec, default);
        host.Reopen();
        await host.Driver.ReconcileAsync([Spec], default);
        var after = await host.Driver.GetStateAsync(Spec, default);
        Assert.Equal(InstanceStatus.Running, after.Status);
        Assert.Equal(before.Pid, after.Pid);
        var (code, stdout, _) = await host.ExecAsync(Spec, ["echo", "still here"]);
        Assert.Equal(0, code);
        Assert.Equal("still here\n", stdout);
    }
}

/// <summary>Stopping on real QEMU: the guest powers itself off on ACPI; without an agent exec fails clearly and the VM runs on; force stop.</summary>
[Collection("vms")]
public sealed class VmDriverStopTests(VmHost host)
{
    [Fact]
    public async Task Stop_powers_the_guest_off_through_acpi_and_the_exit_is_a_shutdown()
    {
        var spec = await host.NewInstanceAsync();
        await host.Driver.StartAsync(spec, default);
        await host.WaitForAgentAsync(spec);
        var exit = host.Driver.WaitExitAsync(spec, default);
        await host.Driver.StopAsync(spec, false, TimeSpan.FromMinutes(2), default);
        Assert.Equal(InstanceStatus.Stopped, await host.Driver.GetStatusAsync(spec, default));
        Assert.Equal("shutdown", (await exit)!.Reason);
        Assert.Null(await host.Driver.WaitExitAsync(spec, default));
    }

    [Fact]
    public async Task Exec_into_a_guest_without_an_agent_fails_naming_it_and_force_stop_ends_the_vm()
    {
        // The initramfs' shell instead of its init: the guest runs, its agent never starts.
        var spec = await host.NewInstanceAsync("console=ttyS0 rdinit=/bin/sh");
        await host.Driver.StartAsync(spec, default);
        var e = await Assert.ThrowsAsync<TransientException>(() => host.ExecAsync(spec, ["/bin/true"]));
        Assert.Contains("guest agent did not answer", e.Message);
        Assert.Equal(InstanceStatus.Running, await host.Driver.GetStatusAsync(spec, default));

        await host.Driver.StopAsync(spec, true, TimeSpan.Zero, default);
        Assert.Equal(InstanceStatus.Stopped, await host.Driver.GetStatusAsync(spec, default));
        await host.Driver.StartAsync(spec, default); // a stopped VM starts again from its kept definition
        await host.Driver.StopAsync(spec, true, TimeSpan.Zero, default);
        host.Driver.Forget(spec);
        Assert.Equal(InstanceStatus.Stopped, await host.Driver.GetStatusAsync(spec, default));
    }

    [Fact]
    public async Task Reconcile_removes_domains_of_unknown_instances()
    {
        var spec = await host.NewInstanceAsync();
        await host.Driver.StartAsync(spec, default);
        await host.Driver.ReconcileAsync(host.Made.Where(s => s.Name != spec.Name).ToList(), default);
        Assert.Equal(InstanceStatus.Stopped, await host.Driver.GetStatusAsync(spec, default));
        Assert.False(File.Exists(Path.Combine(host.Dir, "libvirt", "etc", "libvirt", "qemu", host.Driver.DomainName(spec.Name) + ".xml")));
    }
}
