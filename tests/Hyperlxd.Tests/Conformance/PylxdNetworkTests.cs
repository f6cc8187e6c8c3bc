using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>Issue 11: pylxd 2.2.10's network model (Debian python3-pylxd) against a daemon in its own network namespace.</summary>
[Collection(NetworkDaemonCollection.Name)]
public sealed class PylxdNetworkTests(NetworkDaemon fixture)
{
    private async Task<string[]> RunAsync(string script)
    {
        var r = await fixture.Daemon.PythonAsync("import warnings, pylxd\nwarnings.simplefilter('ignore')\nc = pylxd.Client()\n" + script);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout.Trim().Split('\n');
    }

    [Fact]
    public async Task Network_create_default_and_with_ipv4_keys_and_bridge_hwaddr_get_list_save_rename_delete()
    {
        var lines = await RunAsync("""
            n = c.networks.create('py-net', description='from pylxd')
            print(n.name, n.type, n.managed, n.description, n.config.get('ipv4.address', '') not in ('', 'none'))
            c.networks.create('py-net4', type='bridge', config={
                'ipv4.address': '10.201.30.1/24', 'ipv4.nat': 'true', 'ipv4.dhcp': 'true',
                'ipv4.dhcp.ranges': '10.201.30.100-10.201.30.150', 'ipv6.address': 'none',
                'bridge.hwaddr': '00:16:3e:30:30:30'})
            g = c.networks.get('py-net4')
            print(g.config['ipv4.address'], g.config['ipv4.nat'], g.config['ipv4.dhcp.ranges'], g.config['bridge.hwaddr'], g.used_by)
            print(sorted(x.name for x in c.networks.all() if x.name.startswith('py-')))
            g.description = 'saved'
            g.config['ipv4.dhcp.ranges'] = '10.201.30.160-10.201.30.170'
            g.save()
            h = c.networks.get('py-net4')
            print(h.description, h.config['ipv4.dhcp.ranges'])
            # pylxd 2.2.10's rename POSTs {'name': new} to /1.0/networks, which LXD 5.0.2 serves as a
            # create: a new default network appears and the old one stays.
            r = h.rename('py-net5')
            print(r.name, c.networks.exists('py-net4'), c.networks.exists('py-net5'))
            for name in ('py-net', 'py-net4', 'py-net5'):
                c.networks.get(name).delete()
            print(sorted(x.name for x in c.networks.all() if x.name.startswith('py-')), c.networks.exists('py-net4'))
            try:
                c.networks.create('py-bad', config={'ipv4.address': 'nonsense'})
            except pylxd.exceptions.LXDAPIException as e:
                print('refused:', e)
            print(c.networks.exists('py-bad'))
            """);
        Assert.Equal("py-net bridge True from pylxd True", lines[0]);
        Assert.Equal("10.201.30.1/24 true 10.201.30.100-10.201.30.150 00:16:3e:30:30:30 []", lines[1]);
        Assert.Equal("['py-net', 'py-net4']", lines[2]);
        Assert.Equal("saved 10.201.30.160-10.201.30.170", lines[3]);
        Assert.Equal("py-net5 True True", lines[4]);
        Assert.Equal("[] False", lines[5]);
        Assert.StartsWith("refused:", lines[6]);
        Assert.Contains("ipv4.address", lines[6]);
        Assert.Equal("False", lines[7]);
    }

    [Fact]
    public async Task Bridge_hwaddr_and_address_from_pylxd_are_on_the_bridge()
    {
        var lines = await RunAsync("""
            c.networks.create('py-hw', config={'ipv4.address': '10.201.31.1/24', 'ipv6.address': 'none', 'bridge.hwaddr': '00:16:3e:31:31:31'})
            print(c.networks.get('py-hw').config['bridge.hwaddr'])
            """);
        try
        {
            Assert.Equal("00:16:3e:31:31:31", lines[0]);
            var link = await NetworkDaemon.HostSideOkAsync(fixture.Daemon, "ip", "addr", "show", "py-hw");
            Assert.Contains("link/ether 00:16:3e:31:31:31", link);
            Assert.Contains("inet 10.201.31.1/24", link);
        }
        finally
        {
            await fixture.Daemon.LxcAsync("network", "delete", "py-hw");
        }
    }
}
