using System.Net;
using Hyperlxd.Core;
using Hyperlxd.Core.Networks;
using Hyperlxd.Daemon.Hosting;
using Hyperlxd.Interop.Linux;
using Hyperlxd.Interop.Linux.Netlink;
using Hyperlxd.Networking;
using Hyperlxd.State;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Interop;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hyperlxd.Tests.Networking;

/// <summary>
/// The networking layer against the real kernel, nft and dnsmasq — all inside a namespace each test makes
/// (the manager is pointed at it; nothing is created in the host's). State in a real embedded database.
/// </summary>
public sealed class NetworkManagerTests : IAsyncLifetime
{
    private readonly string _dir = Repo.TempDir("hlx-net-");
    private TestNetns _netns = null!;
    private StateStore _store = null!;
    private NetworkManager _manager = null!;

    public async Task InitializeAsync()
    {
        _netns = await TestNetns.CreateAsync("hlx-nm");
        await _netns.RunAsync("ip", "link", "set", "lo", "up");
        await HostAccounts.EnsureAsync("hyperlxd", "hyperlxd-db");
        _store = await StateStore.OpenAsync(_dir, null, "hyperlxd-db", NullLoggerFactory.Instance, CancellationToken.None);
        _manager = NewManager();
    }

    private NetworkManager NewManager() =>
        new(new NetworkManagerOptions(_dir, new NetworkNamespace(_netns.Path)), _store, NullLogger<NetworkManager>.Instance);

    public async Task DisposeAsync()
    {
        _manager.Dispose();
        // dnsmasq outlives the manager by design: end what still runs in the namespace, then the namespace.
        var pids = (await HostCommand.RunUncheckedAsync("ip", ["netns", "pids", _netns.Name])).Stdout;
        foreach (var pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            Syscalls.Kill(int.Parse(pid), 9);
        }
        await _netns.DisposeAsync();
        await _store.DisposeAsync();
        Directory.Delete(_dir, true);
    }

    private LinkInfo? Link(string name)
    {
        using var rt = RtNetlink.OpenIn(_netns.Path);
        return rt.GetLink(name);
    }

    private Task<string> NftTables() => _netns.RunAsync("nft", "list", "tables");

    private static bool Alive(int pid) => pid > 0 && File.Exists($"/proc/{pid}/cmdline") && File.ReadAllText($"/proc/{pid}/cmdline").Length > 0;

    private static async Task Until(Func<bool> condition, string what)
    {
        for (var i = 0; i < 600 && !condition(); i++)
        {
            await Task.Delay(50);
        }
        Assert.True(condition(), what);
    }

    [Fact]
    public async Task Create_state_update_rename_delete_leaves_nothing()
    {
        var ct = CancellationToken.None;
        await _manager.CreateAsync("hlxt0", "", "test", new() { ["ipv4.address"] = "10.77.0.1/24", ["ipv4.nat"] = "true", ["ipv6.address"] = "none" }, ct);
        var link = Link("hlxt0");
        Assert.NotNull(link);
        Assert.Equal("bridge", link.Kind);
        Assert.True(link.Up);
        var state = await _manager.StateAsync("hlxt0", ct);
        Assert.Contains(state.Addresses, a => a.Address == "10.77.0.1" && a.Netmask == "24" && a.Family == "inet");
        Assert.Equal("up", state.State);
        var table = await _netns.RunAsync("nft", "list", "table", "inet", "hyperlxd");
        Assert.Contains("ip saddr 10.77.0.0/24 ip daddr != 10.77.0.0/24 masquerade", table);
        var pid = _manager.DnsmasqPid("hlxt0");
        Assert.True(Alive(pid));
        Assert.Contains("--no-resolv", File.ReadAllText($"/proc/{pid}/cmdline"));
        Assert.Empty(await _manager.LeasesAsync("hlxt0", ct));
        var listed = await _manager.ListAsync(ct);
        Assert.Contains(listed, n => n.Name == "hlxt0" && n.Managed && n.Status == "Created");
        Assert.Contains(listed, n => n.Name == "lo" && !n.Managed && n.Type == "loopback");

        // Live update: mtu on the bridge, a DHCP range in a restarted dnsmasq, NAT off in the table.
        await _manager.UpdateAsync("hlxt0", "test", new() { ["ipv4.address"] = "10.77.0.1/24", ["ipv6.address"] = "none", ["bridge.mtu"] = "1400",
            ["ipv4.dhcp.ranges"] = "10.77.0.50-10.77.0.60" }, ct);
        Assert.Equal(1400, Link("hlxt0")!.Mtu);
        var pid2 = _manager.DnsmasqPid("hlxt0");
        Assert.NotEqual(pid, pid2);
        Assert.False(Alive(pid));
        Assert.Contains("10.77.0.50,10.77.0.60", File.ReadAllText($"/proc/{pid2}/cmdline"));
        Assert.DoesNotContain("masquerade", await _netns.RunAsync("nft", "list", "table", "inet", "hyperlxd"));

        await _manager.RenameAsync("hlxt0", "hlxt1", ct);
        Assert.Null(Link("hlxt0"));
        Assert.True(Link("hlxt1")!.Up);
        Assert.Contains(Link("hlxt1") is not null ? "hlxt1" : "", await _netns.RunAsync("nft", "list", "table", "inet", "hyperlxd"));
        Assert.Contains("--interface=hlxt1", File.ReadAllText($"/proc/{_manager.DnsmasqPid("hlxt1")}/cmdline"));
        var pid3 = _manager.DnsmasqPid("hlxt1");

        await _manager.DeleteAsync("hlxt1", ct);
        Assert.Null(Link("hlxt1"));
        Assert.DoesNotContain("hyperlxd", await NftTables());
        Assert.False(Alive(pid3));
        Assert.False(Directory.Exists(Path.Combine(_dir, "networks", "hlxt1")));
        Assert.Empty(await _store.Networks.ListAsync(ct));
    }

    [Fact]
    public async Task A_failing_create_leaves_nothing_and_overlaps_are_refused()
    {
        var ct = CancellationToken.None;
        // A multicast MAC: the kernel refuses it after the row, the directory and maybe the bridge exist.
        await Assert.ThrowsAnyAsync<Exception>(() => _manager.CreateAsync("hlxbad", "", "", new() { ["ipv4.address"] = "10.78.0.1/24", ["bridge.hwaddr"] = "01:00:5e:00:00:01" }, ct));
        Assert.Null(Link("hlxbad"));
        Assert.Null(await _store.Networks.FindAsync("hlxbad", ct));
        Assert.False(Directory.Exists(Path.Combine(_dir, "networks", "hlxbad")));
        Assert.DoesNotContain("hyperlxd", await NftTables());

        await _manager.CreateAsync("hlxa", "", "", new() { ["ipv4.address"] = "10.79.0.1/24", ["ipv6.address"] = "none" }, ct);
        var e = await Assert.ThrowsAsync<BadRequestException>(() => _manager.CreateAsync("hlxb", "", "", new() { ["ipv4.address"] = "10.79.0.200/16" }, ct));
        Assert.Contains("ipv4.address", e.Message);
        Assert.Null(Link("hlxb"));
        // auto never picks a subnet in use, and a name taken by a link of the namespace is a conflict.
        var auto = await _manager.CreateAsync("hlxc", "", "", new(), ct);
        Assert.NotEqual("10.79.0.1/24", auto.Config["ipv4.address"]);
        Assert.StartsWith("fd42:", auto.Config["ipv6.address"]);
        await Assert.ThrowsAsync<ConflictException>(() => _manager.CreateAsync("lo", "", "", new(), ct));
        await Assert.ThrowsAsync<BadRequestException>(() => _manager.CreateAsync("hlxd", "", "", new() { ["nope"] = "1" }, ct));
    }

    [Fact]
    public async Task Dnsmasq_is_restarted_when_it_dies_and_adopted_by_a_new_manager()
    {
        var ct = CancellationToken.None;
        await _manager.CreateAsync("hlxs", "", "", new() { ["ipv4.address"] = "10.80.0.1/24", ["ipv6.address"] = "none" }, ct);
        var pid = _manager.DnsmasqPid("hlxs");
        Syscalls.Kill(pid, 9);
        await Until(() => _manager.DnsmasqPid("hlxs") != pid && Alive(_manager.DnsmasqPid("hlxs")), "dnsmasq restarted");
        var restarted = _manager.DnsmasqPid("hlxs");

        // A daemon restart: the old manager lets go (dnsmasq keeps running), a new one adopts it.
        _manager.Dispose();
        Assert.True(Alive(restarted));
        _manager = NewManager();
        await _manager.StartupAsync(ct);
        Assert.Equal(restarted, _manager.DnsmasqPid("hlxs"));
        var dnsmasqs = (await HostCommand.RunAsync("ip", ["netns", "pids", _netns.Name])).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(dnsmasqs);
        Assert.Single((await _netns.RunAsync("nft", "list", "tables")).Split('\n'), l => l.Contains("hyperlxd", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_plugged_nic_gets_its_dhcp_identity_and_unplug_removes_everything()
    {
        var ct = CancellationToken.None;
        await _manager.CreateAsync("hlxn", "", "", new() { ["ipv4.address"] = "10.81.0.1/24", ["ipv6.address"] = "none" }, ct);
        var host = new NetworkHost(_manager);
        var nic = new NicRequest("c1", "eth0", new Dictionary<string, string> { ["type"] = "nic", ["network"] = "hlxn", ["ipv4.address"] = "10.81.0.10" },
            new Dictionary<string, string>());
        await host.CheckNicAsync(nic, ct);
        var plan = await host.PlugNicAsync(nic, ct);
        Assert.StartsWith("00:16:3e:", plan.HwAddr);
        Assert.Equal(plan.HwAddr, plan.Volatile["hwaddr"]);
        Assert.Equal(1500, plan.Mtu);
        var hostEnd = Link(plan.HostName)!;
        Assert.Equal(Link("hlxn")!.Index, hostEnd.MasterIndex);
        Assert.Equal(plan.HwAddr, Link(plan.PeerName)!.HwAddr!.ToString());
        var leases = await _manager.LeasesAsync("hlxn", ct);
        Assert.Contains(leases, l => l.Hostname == "c1" && l.Address == "10.81.0.10" && l.Type == "static" && l.Hwaddr == plan.HwAddr);

        // Bad nics: a missing network, an address outside the subnet or on the gateway.
        var missing = await Assert.ThrowsAsync<BadRequestException>(() => host.CheckNicAsync(nic with { Config = new Dictionary<string, string> { ["network"] = "nope" } }, ct));
        Assert.Contains("\"nope\"", missing.Message);
        await Assert.ThrowsAsync<BadRequestException>(() => host.CheckNicAsync(nic with { Config = new Dictionary<string, string> { ["network"] = "hlxn", ["ipv4.address"] = "10.81.0.1" } }, ct));
        await Assert.ThrowsAsync<BadRequestException>(() => host.CheckNicAsync(nic with { Config = new Dictionary<string, string> { ["network"] = "hlxn", ["ipv4.address"] = "10.82.0.5" } }, ct));

        // Proxy NAT rules live in the table, a taken listen port is a conflict.
        await host.AddProxyNatAsync(new ProxyNat("c1", "web", "tcp", "0.0.0.0", 8080, "10.81.0.10", 80), ct);
        Assert.Contains("dnat ip to 10.81.0.10:80", await _netns.RunAsync("nft", "list", "table", "inet", "hyperlxd"));
        await Assert.ThrowsAsync<ConflictException>(() => host.AddProxyNatAsync(new ProxyNat("c2", "web", "tcp", "0.0.0.0", 8080, "10.81.0.11", 80), ct));
        await host.RemoveProxyNatAsync("c1", "web", ct);
        Assert.DoesNotContain("dnat", await _netns.RunAsync("nft", "list", "table", "inet", "hyperlxd"));

        var unplug = nic with { Volatile = plan.Volatile };
        await host.UnplugNicAsync(unplug, ct);
        await host.UnplugNicAsync(unplug, ct);
        Assert.Null(Link(plan.HostName));
        Assert.Null(Link(plan.PeerName));
        Assert.Empty(await _manager.LeasesAsync("hlxn", ct));
    }

    [Fact]
    public async Task A_tap_nic_for_a_vm_makes_no_link_but_names_the_tap_the_bridge_and_the_dhcp_identity()
    {
        var ct = CancellationToken.None;
        await _manager.CreateAsync("hlxt", "", "", new() { ["ipv4.address"] = "10.83.0.1/24", ["ipv6.address"] = "none" }, ct);
        var host = new NetworkHost(_manager);
        var before = (await _netns.RunAsync("ip", "-o", "link")).Split('\n').Length;
        var nic = new NicRequest("vm1", "eth0", new Dictionary<string, string> { ["type"] = "nic", ["network"] = "hlxt", ["ipv4.address"] = "10.83.0.20" },
            new Dictionary<string, string>()) { Tap = true };
        var plan = await host.PlugNicAsync(nic, ct);
        Assert.StartsWith("tap", plan.HostName);
        Assert.Equal("", plan.PeerName);
        Assert.Equal("hlxt", plan.Bridge);
        Assert.Equal(plan.HostName, plan.Volatile["host_name"]);
        Assert.Null(Link(plan.HostName));
        Assert.Equal(before, (await _netns.RunAsync("ip", "-o", "link")).Split('\n').Length);
        Assert.Contains(await _manager.LeasesAsync("hlxt", ct), l => l.Hostname == "vm1" && l.Address == "10.83.0.20" && l.Hwaddr == plan.HwAddr);

        // What the hypervisor made (a tap on the bridge) goes at unplug, with the identity.
        await _netns.RunAsync("ip", "tuntap", "add", "dev", plan.HostName, "mode", "tap");
        await host.UnplugNicAsync(nic with { Volatile = plan.Volatile }, ct);
        Assert.Null(Link(plan.HostName));
        Assert.Empty(await _manager.LeasesAsync("hlxt", ct));

        // A tap has no bridge to go on without one.
        var p2p = await Assert.ThrowsAsync<BadRequestException>(() => host.PlugNicAsync(
            new NicRequest("vm1", "eth1", new Dictionary<string, string> { ["type"] = "nic", ["nictype"] = "p2p" }, new Dictionary<string, string>()) { Tap = true }, ct));
        Assert.Contains("eth1", p2p.Message);
    }
}
