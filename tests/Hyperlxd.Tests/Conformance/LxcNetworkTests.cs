using System.Net;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// Issue 11, managed bridges and nic/proxy devices through the stock lxc 5.0.2 client, as LXD 5.0.2
/// behaves: everything (bridges, dnsmasq, nftables, container traffic) inside the daemon's network
/// namespace, checked from there with ip, nft and busybox.
/// </summary>
[Collection(NetworkDaemonCollection.Name)]
public sealed class LxcNetworkTests(NetworkDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => fixture.LxcOkAsync(args);

    private Task<string> HostSideAsync(params string[] command) => NetworkDaemon.HostSideOkAsync(D, command);

    private async Task<ProcessResult> LxcFailsAsync(params string[] args)
    {
        var r = await D.LxcAsync(args);
        Assert.True(r.ExitCode != 0, $"lxc {string.Join(' ', args)} should have failed: {r}");
        return r;
    }

    private static void Is4xx(ApiResponse r, params string[] mentions)
    {
        Assert.True((int)r.Status is >= 400 and < 500, r.ToString());
        foreach (var m in mentions)
        {
            Assert.Contains(m, r.Error, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task Init_auto_made_lxdbr0_and_eth0_in_the_default_profile()
    {
        var list = await LxcOkAsync("network", "list", "--format", "csv");
        Assert.Contains(list.Split('\n'), l => l.StartsWith("lxdbr0,bridge,YES,", StringComparison.Ordinal));
        var eth0 = (await D.Api.GetAsync("/1.0/profiles/default")).Metadata.GetProperty("devices").GetProperty("eth0");
        Assert.Equal("nic", eth0.GetProperty("type").GetString());
        Assert.Equal("lxdbr0", eth0.GetProperty("network").GetString());
        await HostSideAsync("ip", "link", "show", "lxdbr0");
    }

    [Fact]
    public async Task Lxc_network_create_list_show_set_rename_delete()
    {
        Assert.Contains("Network hn-crud created", await LxcOkAsync("network", "create", "hn-crud", "ipv4.address=10.201.1.1/24", "ipv6.address=none"));
        var list = await LxcOkAsync("network", "list", "--format", "csv");
        Assert.Contains(list.Split('\n'), l => l.StartsWith("hn-crud,bridge,YES,10.201.1.1/24,", StringComparison.Ordinal));
        var show = await LxcOkAsync("network", "show", "hn-crud");
        Assert.Contains("ipv4.address: 10.201.1.1/24", show);
        Assert.Contains("type: bridge", show);
        Assert.Contains("managed: true", show);
        Assert.Contains("inet 10.201.1.1/24", await HostSideAsync("ip", "-4", "addr", "show", "hn-crud"));

        // Applied live: the bridge's address and the DHCP/DNS settings follow.
        await LxcOkAsync("network", "set", "hn-crud", "ipv4.address=10.201.2.1/24", "dns.domain=crud.test", "user.note=x");
        show = await LxcOkAsync("network", "show", "hn-crud");
        Assert.Contains("ipv4.address: 10.201.2.1/24", show);
        Assert.Contains("dns.domain: crud.test", show);
        Assert.Contains("user.note: x", show);
        var addr = await HostSideAsync("ip", "-4", "addr", "show", "hn-crud");
        Assert.Contains("inet 10.201.2.1/24", addr);
        Assert.DoesNotContain("10.201.1.1", addr);
        Assert.Equal("10.201.2.1/24", (await LxcOkAsync("network", "get", "hn-crud", "ipv4.address")).Trim());

        Assert.Contains("renamed to hn-crud2", await LxcOkAsync("network", "rename", "hn-crud", "hn-crud2"));
        await HostSideAsync("ip", "link", "show", "hn-crud2");
        Assert.NotEqual(0, (await D.RunInNetnsAsync("ip", ["link", "show", "hn-crud"])).ExitCode);
        Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/networks/hn-crud")).Status);

        Assert.Contains("Network hn-crud2 deleted", await LxcOkAsync("network", "delete", "hn-crud2"));
        Assert.DoesNotContain("hn-crud", await LxcOkAsync("network", "list", "--format", "csv"));
        Assert.NotEqual(0, (await D.RunInNetnsAsync("ip", ["link", "show", "hn-crud2"])).ExitCode);
        Assert.DoesNotContain("hn-crud", await HostSideAsync("nft", "list", "ruleset"));
        Assert.DoesNotContain(await NetworkDaemon.DnsmasqAsync(D), p => p.Cmdline.Contains("hn-crud", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Two_containers_get_leases_ping_each_other_and_the_bridge_and_resolve_names_through_dnsmasq()
    {
        await fixture.CreateNetworkAsync("hn-pair", "10.201.3.1/24", "ipv4.nat=true");
        try
        {
            var a = await fixture.LaunchOnAsync("np-a", "hn-pair");
            var b = await fixture.LaunchOnAsync("np-b", "hn-pair");
            Assert.StartsWith("10.201.3.", a);
            Assert.StartsWith("10.201.3.", b);
            Assert.NotEqual(a, b);
            Assert.Contains($"{a} (eth0)", await LxcOkAsync("list", "np-a", "-c", "4", "--format", "csv"));

            var leases = await fixture.LeasesAsync("hn-pair");
            foreach (var (name, ip) in new[] { ("np-a", a), ("np-b", b) })
            {
                Assert.Contains(leases.EnumerateArray(), l => l.GetProperty("hostname").GetString() == name && l.GetProperty("address").GetString() == ip);
            }
            var listLeases = await LxcOkAsync("network", "list-leases", "hn-pair", "--format", "csv");
            Assert.Contains("np-a", listLeases);
            Assert.Contains(b, listLeases);

            await LxcOkAsync("exec", "np-a", "--", "ping", "-c", "1", "-W", "5", b);
            await LxcOkAsync("exec", "np-b", "--", "ping", "-c", "1", "-W", "5", a);
            await LxcOkAsync("exec", "np-a", "--", "ping", "-c", "1", "-W", "5", "10.201.3.1");
            await HostSideAsync("busybox", "ping", "-c", "1", "-W", "5", a);

            // Names under dns.domain (default "lxd") from the bridge's dnsmasq.
            var lookup = await LxcOkAsync("exec", "np-a", "--", "nslookup", "np-b.lxd", "10.201.3.1");
            Assert.Contains(b, lookup);
            lookup = await LxcOkAsync("exec", "np-b", "--", "nslookup", "np-a.lxd", "10.201.3.1");
            Assert.Contains(a, lookup);

            var table = await HostSideAsync("nft", "list", "table", "inet", "hyperlxd");
            Assert.Contains("10.201.3.0/24", table);
            Assert.Contains("masquerade", table);
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "np-a");
            await D.LxcAsync("delete", "--force", "np-b");
            await D.LxcAsync("network", "delete", "hn-pair");
        }
    }

    [Fact]
    public async Task A_static_ipv4_address_is_honoured()
    {
        await fixture.CreateNetworkAsync("hn-static", "10.201.4.1/24");
        try
        {
            var ip = await fixture.LaunchOnAsync("ns-static", "hn-static", "ipv4.address=10.201.4.77");
            Assert.Equal("10.201.4.77", ip);
            var leases = await fixture.LeasesAsync("hn-static");
            Assert.Contains(leases.EnumerateArray(), l => l.GetProperty("hostname").GetString() == "ns-static" && l.GetProperty("address").GetString() == "10.201.4.77");
            await HostSideAsync("busybox", "ping", "-c", "1", "-W", "5", "10.201.4.77");
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "ns-static");
            await D.LxcAsync("network", "delete", "hn-static");
        }
    }

    [Fact]
    public async Task Nic_hot_plug_and_device_remove_on_a_running_container_add_and_remove_the_link()
    {
        await fixture.CreateNetworkAsync("hn-hot", "10.201.5.1/24");
        try
        {
            await fixture.LaunchOnAsync("nh-hot", "hn-hot", "host_name=vhhot0");
            Assert.Equal(["vhhot0"], await NetworkDaemon.BridgePortsAsync(D, "hn-hot"));

            await LxcOkAsync("config", "device", "add", "nh-hot", "eth1", "nic", "network=hn-hot", "name=eth1");
            Assert.Contains("eth1", await LxcOkAsync("exec", "nh-hot", "--", "ls", "/sys/class/net"));
            Assert.Equal(2, (await NetworkDaemon.BridgePortsAsync(D, "hn-hot")).Count);
            var state = (await D.Api.GetAsync("/1.0/instances/nh-hot/state")).Metadata.GetProperty("network");
            Assert.True(state.TryGetProperty("eth1", out var eth1), state.ToString());
            Assert.False(string.IsNullOrEmpty(eth1.GetProperty("host_name").GetString()));

            await LxcOkAsync("config", "device", "remove", "nh-hot", "eth0");
            await LxcOkAsync("config", "device", "remove", "nh-hot", "eth1");
            var inside = await LxcOkAsync("exec", "nh-hot", "--", "ls", "/sys/class/net");
            // eth0 falls back to the default profile's (on lxdbr0), as in LXD; eth1 is gone.
            Assert.DoesNotContain("eth1", inside);
            Assert.Empty(await NetworkDaemon.BridgePortsAsync(D, "hn-hot"));
            Assert.NotEqual(0, (await D.RunInNetnsAsync("ip", ["link", "show", "vhhot0"])).ExitCode);
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "nh-hot");
            await D.LxcAsync("network", "delete", "hn-hot");
        }
    }

    /// <summary>An httpd in the container on <paramref name="listen"/> serving "hello from NAME".</summary>
    private async Task ServeAsync(string name, string listen) =>
        await LxcOkAsync("exec", name, "--", "sh", "-c", $"mkdir -p /www && echo hello from {name} > /www/index.html && httpd -p {listen} -h /www");

    private async Task<string> FetchFromHostSideAsync(string url)
    {
        ProcessResult r = null!;
        // The forwarder may still be binding right after `lxc config device add` returns: a few tries.
        for (var i = 0; i < 50; i++)
        {
            r = await D.RunInNetnsAsync("curl", ["-sS", "-m", "5", url]);
            if (r.ExitCode == 0)
            {
                return r.Stdout;
            }
            await Task.Delay(100);
        }
        Assert.Fail($"curl {url} from {D.NetnsName}: {r}");
        return "";
    }

    [Fact]
    public async Task A_proxy_device_reaches_a_server_in_the_container_from_the_namespace_host_side()
    {
        await fixture.CreateNetworkAsync("hn-proxy", "10.201.6.1/24");
        try
        {
            await fixture.LaunchOnAsync("npx", "hn-proxy");
            await ServeAsync("npx", "127.0.0.1:8080");
            await LxcOkAsync("config", "device", "add", "npx", "web", "proxy", "listen=tcp:10.201.6.1:18080", "connect=tcp:127.0.0.1:8080");
            Assert.Contains("hello from npx", await FetchFromHostSideAsync("http://10.201.6.1:18080/"));

            await LxcOkAsync("config", "device", "remove", "npx", "web");
            Assert.NotEqual(0, (await D.RunInNetnsAsync("curl", ["-sS", "-m", "2", "http://10.201.6.1:18080/"])).ExitCode);
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "npx");
            await D.LxcAsync("network", "delete", "hn-proxy");
        }
    }

    [Fact]
    public async Task A_nat_proxy_device_reaches_the_container_static_address()
    {
        await fixture.CreateNetworkAsync("hn-pnat", "10.201.10.1/24");
        try
        {
            await fixture.LaunchOnAsync("npn", "hn-pnat", "ipv4.address=10.201.10.50");
            await ServeAsync("npn", "0.0.0.0:8080");
            await LxcOkAsync("config", "device", "add", "npn", "web", "proxy", "listen=tcp:10.201.10.1:18081", "connect=tcp:10.201.10.50:8080", "nat=true");
            Assert.Contains("dnat", await HostSideAsync("nft", "list", "table", "inet", "hyperlxd"));
            Assert.Contains("hello from npn", await FetchFromHostSideAsync("http://10.201.10.1:18081/"));
            await LxcOkAsync("config", "device", "remove", "npn", "web");
            Assert.DoesNotContain("18081", await HostSideAsync("nft", "list", "ruleset"));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "npn");
            await D.LxcAsync("network", "delete", "hn-pnat");
        }
    }

    [Fact]
    public async Task Bad_network_input_is_a_4xx_naming_the_problem_and_nothing_is_half_created()
    {
        await fixture.CreateNetworkAsync("hn-ov1", "10.201.7.1/24");
        try
        {
            var before = await NetworkDaemon.HostStateAsync(D);
            Is4xx(await D.Api.PostAsync("/1.0/networks", """{"name":"hn-ov2","config":{"ipv4.address":"10.201.7.129/25","ipv6.address":"none"}}"""), "ipv4.address");
            Is4xx(await D.Api.PostAsync("/1.0/networks", """{"name":"hn-ov3","config":{"ipv4.address":"10.201.300.1/24","ipv6.address":"none"}}"""), "ipv4.address");
            Is4xx(await D.Api.PostAsync("/1.0/networks", """{"name":"hn-ov4","config":{"ipv4.address":"10.201.8.1/24","ipv6.address":"none","ipv4.nat":"maybe"}}"""), "ipv4.nat");
            Is4xx(await D.Api.PostAsync("/1.0/networks", """{"name":"hn/bad","config":{"ipv4.address":"10.201.8.1/24"}}"""), "name");
            Is4xx(await D.Api.PostAsync("/1.0/networks", """{"name":"hn-name-too-long-for-a-link","config":{"ipv4.address":"10.201.8.1/24"}}"""), "name");
            Is4xx(await D.Api.PostAsync("/1.0/networks", """{"name":"hn-ov1","config":{"ipv4.address":"10.201.8.1/24"}}"""), "hn-ov1");
            Is4xx(await D.Api.PatchAsync("/1.0/networks/hn-ov1", """{"config":{"ipv4.address":"10.201.7.1/33"}}"""), "ipv4.address");
            var r = await LxcFailsAsync("network", "create", "hn-ov5", "ipv4.address=10.201.7.65/26");
            Assert.Contains("ipv4.address", r.Stderr);
            foreach (var n in new[] { "hn-ov2", "hn-ov3", "hn-ov4", "hn-ov5" })
            {
                Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync($"/1.0/networks/{n}")).Status);
            }
            Assert.Equal("10.201.7.1/24", (await LxcOkAsync("network", "get", "hn-ov1", "ipv4.address")).Trim());
            Assert.Equal(before, await NetworkDaemon.HostStateAsync(D));
        }
        finally
        {
            await D.LxcAsync("network", "delete", "hn-ov1");
        }
    }

    [Fact]
    public async Task Deleting_or_renaming_a_network_in_use_is_409_naming_its_users()
    {
        await fixture.CreateNetworkAsync("hn-used", "10.201.9.1/24");
        try
        {
            await LxcOkAsync("profile", "create", "hn-used-p");
            await LxcOkAsync("profile", "device", "add", "hn-used-p", "eth0", "nic", "network=hn-used", "name=eth0");
            await LxcOkAsync("init", "busybox", "nu-c");
            await LxcOkAsync("config", "device", "add", "nu-c", "eth0", "nic", "network=hn-used", "name=eth0");
            var usedBy = (await D.Api.GetAsync("/1.0/networks/hn-used")).Metadata.GetProperty("used_by").EnumerateArray().Select(e => e.GetString()).ToList();
            Assert.Contains("/1.0/profiles/hn-used-p", usedBy);
            Assert.Contains("/1.0/instances/nu-c", usedBy);

            var before = await NetworkDaemon.HostStateAsync(D);
            var del = await D.Api.DeleteAsync("/1.0/networks/hn-used");
            Assert.Equal(HttpStatusCode.Conflict, del.Status);
            Assert.Contains("hn-used-p", del.Error);
            Assert.Contains("nu-c", del.Error);
            var rename = await D.Api.PostAsync("/1.0/networks/hn-used", """{"name":"hn-used2"}""");
            Assert.Equal(HttpStatusCode.Conflict, rename.Status);
            Assert.Contains("nu-c", rename.Error);
            Assert.Contains("nu-c", (await LxcFailsAsync("network", "delete", "hn-used")).Stderr);
            Assert.Equal(HttpStatusCode.OK, (await D.Api.GetAsync("/1.0/networks/hn-used")).Status);
            Assert.Equal(before, await NetworkDaemon.HostStateAsync(D));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "nu-c");
            await D.LxcAsync("profile", "delete", "hn-used-p");
            await D.LxcAsync("network", "delete", "hn-used");
        }
    }

    [Fact]
    public async Task A_nic_on_a_missing_network_a_duplicate_hwaddr_or_static_address_and_a_taken_proxy_port_are_refused()
    {
        await fixture.CreateNetworkAsync("hn-dup", "10.201.11.1/24");
        try
        {
            await fixture.LaunchOnAsync("nd-a", "hn-dup", "hwaddr=00:16:3e:11:22:33", "ipv4.address=10.201.11.10");
            await LxcOkAsync("config", "device", "add", "nd-a", "web", "proxy", "listen=tcp:10.201.11.1:18090", "connect=tcp:127.0.0.1:80");
            await LxcOkAsync("init", "busybox", "nd-b");
            await LxcOkAsync("config", "device", "add", "nd-b", "eth0", "nic", "network=hn-dup", "name=eth0");
            await LxcOkAsync("start", "nd-b");
            await NetworkDaemon.WaitForIpv4Async(D, "nd-b");
            var devices = (await D.Api.GetAsync("/1.0/instances/nd-b")).Metadata.GetProperty("devices").GetRawText();
            var before = await NetworkDaemon.HostStateAsync(D);

            var r = await LxcFailsAsync("config", "device", "add", "nd-b", "eth1", "nic", "network=hn-nope", "name=eth1");
            Assert.Contains("hn-nope", r.Stderr);
            r = await LxcFailsAsync("config", "device", "add", "nd-b", "eth1", "nic", "network=hn-dup", "name=eth1", "hwaddr=00:16:3e:11:22:33");
            Assert.Contains("00:16:3e:11:22:33", r.Stderr);
            r = await LxcFailsAsync("config", "device", "add", "nd-b", "eth1", "nic", "network=hn-dup", "name=eth1", "ipv4.address=10.201.11.10");
            Assert.Contains("10.201.11.10", r.Stderr);
            r = await LxcFailsAsync("config", "device", "add", "nd-b", "web", "proxy", "listen=tcp:10.201.11.1:18090", "connect=tcp:127.0.0.1:80");
            Assert.Contains("18090", r.Stderr);
            // A stopped instance with a taken address: refused when the nic is added, or at the latest at start.
            await LxcOkAsync("init", "busybox", "nd-c");
            var add = await D.LxcAsync("config", "device", "add", "nd-c", "eth0", "nic", "network=hn-dup", "name=eth0", "ipv4.address=10.201.11.10");
            if (add.ExitCode == 0)
            {
                r = await LxcFailsAsync("start", "nd-c");
                Assert.Contains("10.201.11.10", r.Stderr);
                Assert.Equal("STOPPED", (await LxcOkAsync("list", "nd-c", "-c", "s", "--format", "csv")).Trim());
            }
            else
            {
                Assert.Contains("10.201.11.10", add.Stderr);
            }

            Assert.Equal(devices, (await D.Api.GetAsync("/1.0/instances/nd-b")).Metadata.GetProperty("devices").GetRawText());
            Assert.Equal(before, await NetworkDaemon.HostStateAsync(D));
        }
        finally
        {
            foreach (var n in new[] { "nd-a", "nd-b", "nd-c" })
            {
                await D.LxcAsync("delete", "--force", n);
            }
            await D.LxcAsync("network", "delete", "hn-dup");
        }
    }
}
