using System.Net;
using Hyperlxd.Core;
using Hyperlxd.Core.Networks;
using Hyperlxd.Networking;

namespace Hyperlxd.Tests.Networking;

/// <summary>Pure parts of the networking layer: key validation, subnet choice, dnsmasq arguments, the nft script.</summary>
public sealed class NetworkConfigTests
{
    [Theory]
    [InlineData("foo", "foo")]
    [InlineData("ipv4.address", "10.0.0.0/24")]
    [InlineData("ipv4.address", "10.0.0.1")]
    [InlineData("ipv4.address", "fd42::1/64")]
    [InlineData("ipv6.address", "10.0.0.1/24")]
    [InlineData("ipv4.nat", "maybe")]
    [InlineData("bridge.mtu", "100")]
    [InlineData("bridge.hwaddr", "00:16:3e:zz:00:01")]
    [InlineData("dns.mode", "weird")]
    [InlineData("dns.domain", "a..b")]
    [InlineData("ipv4.dhcp.ranges", "10.0.0.5")]
    public void Bad_keys_and_values_are_refused_naming_the_key(string key, string value)
    {
        var e = Assert.Throws<BadRequestException>(() => BridgeConfig.Validate("br1", new Dictionary<string, string> { [key] = value }));
        Assert.Contains($"\"{key}\"", e.Message);
        Assert.Contains("\"br1\"", e.Message);
    }

    [Fact]
    public void Good_config_passes_and_defaults_follow_lxd()
    {
        var config = new Dictionary<string, string>
        {
            ["ipv4.address"] = "10.5.6.1/24", ["ipv4.nat"] = "true", ["ipv4.dhcp.ranges"] = "10.5.6.100-10.5.6.200", ["ipv6.address"] = "none",
            ["dns.domain"] = "test.example", ["bridge.mtu"] = "1400", ["bridge.hwaddr"] = "00:16:3e:00:00:01", ["user.note"] = "x",
        };
        BridgeConfig.Validate("br1", config);
        var cfg = new BridgeConfig(config);
        Assert.Equal(IPAddress.Parse("10.5.6.1"), cfg.IPv4!.Value.Gateway);
        Assert.Null(cfg.IPv6);
        Assert.Equal(1400, cfg.Mtu);
        Assert.Equal([(IPAddress.Parse("10.5.6.100"), IPAddress.Parse("10.5.6.200"))], cfg.DhcpRanges);

        var defaults = BridgeConfig.WithDefaults(new Dictionary<string, string> { ["ipv6.address"] = "none" });
        Assert.Equal("auto", defaults["ipv4.address"]);
        Assert.Equal("true", defaults["ipv4.nat"]);
        Assert.False(defaults.ContainsKey("ipv6.nat"));
        Assert.Equal("lxd", new BridgeConfig(defaults).DnsDomain);
    }

    [Fact]
    public void A_dhcp_range_outside_the_subnet_is_refused()
    {
        var e = Assert.Throws<BadRequestException>(() => BridgeConfig.Validate("br1",
            new Dictionary<string, string> { ["ipv4.address"] = "10.5.6.1/24", ["ipv4.dhcp.ranges"] = "10.5.7.2-10.5.7.9" }));
        Assert.Contains("ipv4.dhcp.ranges", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a-name-that-is-too-long")]
    [InlineData("bad/name")]
    [InlineData("has space")]
    [InlineData("-dash")]
    public void Invalid_interface_names_are_refused(string name) =>
        Assert.Throws<BadRequestException>(() => BridgeConfig.ValidateName(name));

    [Fact]
    public void Auto_subnets_avoid_every_route_and_address_in_use()
    {
        // Everything in 10.0.0.0/8 taken but 10.200.7.0/24: the pick must find exactly that one.
        var used = new List<IPNetwork>();
        for (var x = 0; x < 256; x++)
        {
            if (x != 200)
            {
                used.Add(new IPNetwork(new IPAddress(new byte[] { 10, (byte)x, 0, 0 }), 16));
            }
        }
        for (var y = 0; y < 256; y++)
        {
            if (y != 7)
            {
                used.Add(new IPNetwork(new IPAddress(new byte[] { 10, 200, (byte)y, 0 }), 24));
            }
        }
        Assert.Equal("10.200.7.1/24", Subnets.PickIPv4(used, new Random(1)));
        used.Add(IPNetwork.Parse("10.200.7.0/24"));
        Assert.Throws<BadRequestException>(() => Subnets.PickIPv4(used, new Random(1)));

        Assert.Throws<BadRequestException>(() => Subnets.PickIPv6([IPNetwork.Parse("fd42::/16")], new Random(1)));
        var free = Subnets.PickIPv6([IPNetwork.Parse("fd00::/16")], new Random(2));
        Assert.StartsWith("fd42:", free);
        Assert.EndsWith("::1/64", free);
    }

    [Fact]
    public void Dnsmasq_runs_without_upstream_bound_to_the_bridge_with_names_from_the_hosts_dir()
    {
        var paths = new NetworkPaths("/var/lib/hyperlxd/networks/br1");
        var args = Dnsmasq.BuildArgs("br1", new BridgeConfig(new Dictionary<string, string>
        {
            ["ipv4.address"] = "10.5.6.1/24", ["ipv6.address"] = "fd42:1:2:3::1/64", ["dns.domain"] = "lab",
        }), paths)!;
        foreach (var a in new[]
        {
            "--no-resolv", "--keep-in-foreground", "--strict-order", "--bind-interfaces", "--except-interface=lo", "--interface=br1",
            "--listen-address=10.5.6.1", "--listen-address=fd42:1:2:3::1", "--dhcp-authoritative", "--conf-file=/dev/null",
            "--dhcp-leasefile=" + paths.LeaseFile, "--dhcp-hostsdir=" + paths.HostsDir, "--pid-file=" + paths.PidFile,
            "--domain=lab", "--local=/lab/", "--dhcp-range=10.5.6.2,10.5.6.254,255.255.255.0,1h",
        })
        {
            Assert.Contains(a, args);
        }
        Assert.DoesNotContain(args, a => a.StartsWith("--server", StringComparison.Ordinal));
        Assert.Null(Dnsmasq.BuildArgs("br1", new BridgeConfig(new Dictionary<string, string> { ["ipv4.address"] = "none", ["ipv6.address"] = "none" }), paths));
        var noDhcp = Dnsmasq.BuildArgs("br1", new BridgeConfig(new Dictionary<string, string> { ["ipv4.address"] = "10.5.6.1/24", ["ipv4.dhcp"] = "false" }), paths)!;
        Assert.DoesNotContain(noDhcp, a => a.StartsWith("--dhcp-range", StringComparison.Ordinal));
    }

    [Fact]
    public void The_ruleset_is_one_table_replaced_whole()
    {
        var nets = new[] { new FirewallNetwork("br1", IPNetwork.Parse("10.5.6.0/24"), true, true, IPNetwork.Parse("fd42:1:2:3::/64"), false) };
        var nats = new[] { new ProxyNat("c1", "web", "tcp", "0.0.0.0", 8080, "10.5.6.10", 80) };
        var script = NftRuleset.Render(nets, nats, [], new HashSet<string>());
        Assert.StartsWith("table inet hyperlxd\ndelete table inet hyperlxd\ntable inet hyperlxd {", script);
        Assert.Contains("ip saddr 10.5.6.0/24 ip daddr != 10.5.6.0/24 masquerade", script);
        Assert.DoesNotContain("ip6 saddr", script);
        Assert.Contains("iifname \"br1\" udp dport { 67, 547 } accept", script);
        Assert.Contains("oifname \"br1\" accept", script);
        Assert.Contains("fib daddr type local tcp dport 8080 dnat ip to 10.5.6.10:80", script);
        Assert.DoesNotContain("bridge", script.Replace("iifname", "", StringComparison.Ordinal));
        Assert.Equal(2, script.Split("dnat ip to").Length - 1); // prerouting and output

        // Nothing needed: only an existing table is deleted; none at all means no nft run.
        Assert.Equal("", NftRuleset.Render([], [], [], new HashSet<string>()));
        Assert.Equal("delete table inet hyperlxd\n", NftRuleset.Render([], [], [], new HashSet<string> { "inet" }));
        var macs = NftRuleset.Render([], [], [new MacFilter("veth1", "00:16:3e:00:00:01")], new HashSet<string>());
        Assert.Contains("table bridge hyperlxd {", macs);
        Assert.Contains("iifname \"veth1\" ether saddr != 00:16:3e:00:00:01 drop", macs);
        Assert.Equal(new HashSet<string> { "inet" }, NftRuleset.ExistingTables("table inet filter\ntable inet hyperlxd\ntable ip nat\n"));
    }
}
