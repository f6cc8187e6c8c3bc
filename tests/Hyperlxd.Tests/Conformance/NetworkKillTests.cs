using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// Issue 11: kill -9 of the daemon with containers running on a managed network. After the restart
/// the leases and the traffic are intact, and nothing is duplicated: one dnsmasq per network, one
/// nftables table, one veth per nic (counted inside the daemon's network namespace).
/// </summary>
public sealed class NetworkKillTests
{
    [Fact]
    public async Task Kill_9_with_containers_on_a_network_then_restart_keeps_leases_and_traffic_and_duplicates_nothing()
    {
        await ImageFixture.EnsureImagesAsync();
        await using var d = await DaemonProcess.StartAsync();
        try
        {
            await d.PrepareContainersAsync(ImageFixture.Busybox);
            await NetworkDaemon.LxcOkAsync(d, "network", "create", "hn-kill", "ipv4.address=10.201.20.1/24", "ipv6.address=none");
            var names = new[] { "nk-a", "nk-b", "nk-c" };
            var ips = new Dictionary<string, string>();
            foreach (var n in names)
            {
                await NetworkDaemon.LxcOkAsync(d, "init", "busybox", n);
                // nk-c's MAC filter lives in the firewall, which the restarted daemon renders whole: it must survive.
                var nic = new List<string> { "config", "device", "add", n, "eth0", "nic", "network=hn-kill", "name=eth0" };
                if (n == "nk-c")
                {
                    nic.Add("security.mac_filtering=true");
                }
                await NetworkDaemon.LxcOkAsync(d, nic.ToArray());
                await NetworkDaemon.LxcOkAsync(d, "start", n);
            }
            foreach (var n in names)
            {
                ips[n] = await NetworkDaemon.WaitForIpv4Async(d, n);
            }
            var ports = (await NetworkDaemon.BridgePortsAsync(d, "hn-kill")).Order().ToList();
            Assert.Equal(names.Length, ports.Count);
            var dnsmasqBefore = await NetworkDaemon.DnsmasqAsync(d);
            var hostBefore = await NetworkDaemon.HostStateAsync(d);
            Assert.Contains("bridge hyperlxd", await NetworkDaemon.HostSideOkAsync(d, "nft", "list", "tables"));

            await d.KillAsync();
            await d.StartAsync();

            foreach (var n in names)
            {
                Assert.Equal(ips[n], await NetworkDaemon.WaitForIpv4Async(d, n));
            }
            var leases = (await d.Api.GetAsync("/1.0/networks/hn-kill/leases")).Metadata;
            foreach (var n in names)
            {
                Assert.Contains(leases.EnumerateArray(), l => l.GetProperty("hostname").GetString() == n && l.GetProperty("address").GetString() == ips[n]);
            }
            await NetworkDaemon.LxcOkAsync(d, "exec", "nk-a", "--", "ping", "-c", "1", "-W", "5", ips["nk-b"]);
            await NetworkDaemon.LxcOkAsync(d, "exec", "nk-c", "--", "ping", "-c", "1", "-W", "5", "10.201.20.1");
            Assert.Contains(ips["nk-c"], await NetworkDaemon.LxcOkAsync(d, "exec", "nk-a", "--", "nslookup", "nk-c.lxd", "10.201.20.1"));

            // Nothing duplicated: one dnsmasq per managed network (lxdbr0 and hn-kill), one table, the same ports.
            var dnsmasq = await NetworkDaemon.DnsmasqAsync(d);
            Assert.True(dnsmasq.Count == 2, string.Join('\n', dnsmasq.Select(p => $"{p.Pid}: {p.Cmdline}")));
            Assert.Single(dnsmasq, p => p.Cmdline.Contains("hn-kill", StringComparison.Ordinal));
            Assert.Single(dnsmasq, p => p.Cmdline.Contains("lxdbr0", StringComparison.Ordinal));
            Assert.Equal(dnsmasqBefore.Select(p => p.Pid).Order(), dnsmasq.Select(p => p.Pid).Order());
            var tables = (await NetworkDaemon.HostSideOkAsync(d, "nft", "list", "tables")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Single(tables, t => t.Trim() == "table inet hyperlxd");
            Assert.Equal(ports, (await NetworkDaemon.BridgePortsAsync(d, "hn-kill")).Order().ToList());
            var veths = (await NetworkDaemon.HostSideOkAsync(d, "ip", "-o", "link", "show", "type", "veth")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(names.Length, veths.Length);
            // Links, dnsmasq processes and the whole ruleset as they were before the kill.
            Assert.Equal(hostBefore, await NetworkDaemon.HostStateAsync(d));

            // A new container on the network after the restart gets its lease too.
            await NetworkDaemon.LxcOkAsync(d, "init", "busybox", "nk-d");
            await NetworkDaemon.LxcOkAsync(d, "config", "device", "add", "nk-d", "eth0", "nic", "network=hn-kill", "name=eth0");
            await NetworkDaemon.LxcOkAsync(d, "start", "nk-d");
            Assert.DoesNotContain(await NetworkDaemon.WaitForIpv4Async(d, "nk-d"), ips.Values);
        }
        finally
        {
            await d.DeleteAllInstancesAsync();
        }
    }
}
