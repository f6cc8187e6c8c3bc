using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>pylxd 2.2.10 (Debian python3-pylxd) against a real daemon.</summary>
[Collection(SharedDaemonCollection.Name)]
public sealed class PylxdTests(SharedDaemon fixture)
{
    private async Task<string> RunAsync(string script)
    {
        var r = await fixture.Daemon.PythonAsync("import warnings, pylxd\nwarnings.simplefilter('ignore')\nc = pylxd.Client()\n" + script);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout;
    }

    [Fact]
    public async Task Client_reads_host_info()
    {
        var output = await RunAsync("print(c.trusted, c.host_info['api_version'], c.host_info['environment']['server_pid'])");
        Assert.Equal($"True 1.0 {fixture.Daemon.Pid}", output.Trim());
    }

    [Fact]
    public async Task Profile_crud()
    {
        var output = await RunAsync("""
            p = c.profiles.create('py-p', config={'limits.cpu': '1'}, devices={})
            print(sorted(x.name for x in c.profiles.all()))
            p.config['limits.memory'] = '64MiB'
            p.description = 'from pylxd'
            p.save()
            q = c.profiles.get('py-p')
            print(q.config['limits.cpu'], q.config['limits.memory'], q.description)
            q.rename('py-q')
            print(c.profiles.exists('py-p'), c.profiles.exists('py-q'))
            c.profiles.get('py-q').delete()
            print(c.profiles.exists('py-q'))
            try:
                c.profiles.create('py-bad', config={'limits.nonsense': '1'})
            except pylxd.exceptions.LXDAPIException as e:
                print('refused:', e)
            """);
        var lines = output.Trim().Split('\n');
        Assert.Contains("'py-p'", lines[0]);
        Assert.Equal("1 64MiB from pylxd", lines[1]);
        Assert.Equal("False True", lines[2]);
        Assert.Equal("False", lines[3]);
        Assert.StartsWith("refused:", lines[4]);
        Assert.Contains("limits.nonsense", lines[4]);
    }
}
