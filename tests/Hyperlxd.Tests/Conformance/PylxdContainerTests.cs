using Hyperlxd.Tests.Instances;

namespace Hyperlxd.Tests.Conformance;

/// <summary>pylxd 2.2.10 (the /1.0/containers API) driving busybox containers.</summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class PylxdContainerTests(ContainerDaemon fixture)
{
    [Fact]
    public async Task Create_by_alias_start_execute_files_snapshots_stop_delete()
    {
        try
        {
            var r = await fixture.Daemon.PythonAsync("""
                import warnings, pylxd
                warnings.simplefilter('ignore')
                c = pylxd.Client()
                ct = c.containers.create({'name': 'py-c1', 'source': {'type': 'image', 'alias': 'busybox'}}, wait=True)
                print('created', ct.name, ct.status)
                ct.start(wait=True)
                ct.sync()
                print('started', ct.status)
                res = ct.execute(['sh', '-c', 'echo out-$((40+2)); echo err >&2; exit 5'])
                print('exec', res.exit_code, res.stdout.strip(), res.stderr.strip())
                print('exec0', ct.execute(['true']).exit_code)
                ct.files.put('/root/py.txt', b'from pylxd\n')
                print('file', ct.files.get('/root/py.txt').decode().strip(), ct.execute(['cat', '/root/py.txt']).stdout.strip())
                ct.snapshots.create('ps0', wait=True)
                print('snaps', [s.name for s in ct.snapshots.all()])
                ct.files.put('/root/py.txt', b'changed\n')
                ct.stop(wait=True)
                ct.snapshots.get('ps0').restore(wait=True)
                ct.start(wait=True)
                print('restored', ct.files.get('/root/py.txt').decode().strip())
                ct.snapshots.get('ps0').delete(wait=True)
                print('snaps', [s.name for s in ct.snapshots.all()])
                ct.stop(wait=True)
                ct.sync()
                print('stopped', ct.status)
                ct.delete(wait=True)
                print('exists', c.containers.exists('py-c1'))
                """);
            Assert.True(r.ExitCode == 0, r.ToString());
            var lines = r.Stdout.Trim().Split('\n');
            Assert.Equal(new[]
            {
                "created py-c1 Stopped",
                "started Running",
                "exec 5 out-42 err",
                "exec0 0",
                "file from pylxd from pylxd",
                "snaps ['ps0']",
                "restored from pylxd",
                "snaps []",
                "stopped Stopped",
                "exists False",
            }, lines);
        }
        finally
        {
            await fixture.Daemon.LxcAsync("delete", "--force", "py-c1");
        }
    }
}
