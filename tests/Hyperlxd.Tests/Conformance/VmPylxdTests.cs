using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// Issue 12: pylxd 2.2.10 driving a virtual machine. That pylxd has neither <c>client.virtual_machines</c>
/// nor <c>client.instances</c> (both came in 2.3): its way to a VM is <c>client.containers</c> with
/// <c>"type": "virtual-machine"</c> in the create request, which LXD 5.0.2 serves on /1.0/containers
/// (the legacy path filters only the list by type).
/// </summary>
public sealed class VmPylxdTests(VmDaemon fixture) : IClassFixture<VmDaemon>
{
    [Fact]
    public async Task Create_start_execute_stop_delete_a_virtual_machine()
    {
        try
        {
            var r = await fixture.Daemon.PythonAsync($$$"""
                import time, warnings, pylxd
                warnings.simplefilter('ignore')
                c = pylxd.Client()
                vm = c.containers.create({'name': 'py-vm', 'type': 'virtual-machine',
                                          'source': {'type': 'image', 'alias': '{{{VmDaemon.VmAlias}}}'}}, wait=True)
                print('created', vm.name, vm.api.get().json()['metadata']['type'], vm.status)
                vm.start(wait=True)
                vm.sync()
                print('started', vm.status)
                # The VM runs as soon as QEMU does; its agent answers once the guest has booted.
                deadline = time.time() + {{{(int)VmDaemon.AgentPatience.TotalSeconds}}}
                while True:
                    try:
                        if vm.execute(['true']).exit_code == 0:
                            break
                    except Exception as e:
                        last = e
                    if time.time() > deadline:
                        raise SystemExit('agent never answered')
                    time.sleep(0.25)
                res = vm.execute(['sh', '-c', 'echo out-$((40+2)); echo err >&2; exit 5'])
                print('exec', res.exit_code, res.stdout.strip(), res.stderr.strip())
                cpu = vm.execute(['cat', '/proc/cpuinfo'])
                print('cpuinfo', cpu.exit_code, 'processor' in cpu.stdout)
                print('guest kernel', vm.execute(['cat', '/proc/sys/kernel/random/boot_id']).stdout.strip() != open('/proc/sys/kernel/random/boot_id').read().strip())
                vm.stop(wait=True)
                vm.sync()
                print('stopped', vm.status)
                vm.delete(wait=True)
                print('exists', c.containers.exists('py-vm'))
                """);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Equal(new[]
            {
                "created py-vm virtual-machine Stopped",
                "started Running",
                "exec 5 out-42 err",
                "cpuinfo 0 True",
                "guest kernel True",
                "stopped Stopped",
                "exists False",
            }, r.Stdout.Trim().Split('\n'));
        }
        finally
        {
            await fixture.Daemon.LxcAsync("delete", "--force", "py-vm");
        }
    }
}
