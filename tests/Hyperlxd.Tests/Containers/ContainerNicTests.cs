using System.Net;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Networks;
using Hyperlxd.Interop.Linux;
using Hyperlxd.Interop.Linux.Netlink;
using Hyperlxd.Tests.Interop;

namespace Hyperlxd.Tests.Containers;

/// <summary>
/// Nics of real containers through the driver, with the host side in a network namespace the test makes
/// (the driver's NicNamespace: the monitor is started there and makes the pairs natively; hot-plug makes
/// them from there), so nothing is created in the host's namespace. The plans name a bridge the test
/// makes there, as the network host's would; the container is a real unprivileged busybox one.
/// </summary>
[Collection("containers")]
public sealed class ContainerNicTests : IAsyncLifetime
{
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly string _id = Guid.NewGuid().ToString("N")[..6];
    private TestNetns _ns = null!;
    private RtNetlink _host = null!;

    public async Task InitializeAsync()
    {
        _ns = await TestNetns.CreateAsync("hlx-ctnic");
        _host = RtNetlink.OpenIn(_ns.Path);
    }

    public async Task DisposeAsync()
    {
        _host.Dispose();
        await _ns.DisposeAsync();
    }

    /// <summary>A bridge in the test namespace with an address, and a plan onto it: what PlugNic would hand the driver.</summary>
    private NicPlan Plug(string device, string name, string hwaddr, string hostAddress)
    {
        var bridge = $"hlxb{device}{_id}";
        _host.CreateBridge(bridge);
        _host.SetUp(bridge);
        _host.AddAddress(bridge, IPAddress.Parse(hostAddress), 24);
        return new NicPlan(device, $"hlxh{device}{_id}", name, hwaddr, 1400, new Dictionary<string, string>()) { Bridge = bridge };
    }

    /// <summary>The host end exists in the test namespace, up, on the plan's bridge.</summary>
    private void AssertHostEnd(NicPlan plan)
    {
        var link = _host.GetLink(plan.HostName);
        Assert.NotNull(link);
        Assert.True(link.Up, plan.HostName + " is up");
        Assert.Equal(_host.GetLink(plan.Bridge)!.Index, link.MasterIndex);
    }

    private static InstanceSpec WithNic(InstanceSpec spec, NicPlan plan, Dictionary<string, string>? keys = null)
    {
        var devices = spec.Devices.ToDictionary(kv => kv.Key, kv => kv.Value);
        devices[plan.Device] = keys ?? new Dictionary<string, string> { ["type"] = "nic", ["nictype"] = "p2p", ["name"] = plan.Name };
        var config = new Dictionary<string, string>(spec.Config) { [$"volatile.{plan.Device}.host_name"] = plan.HostName };
        return spec with { Devices = devices, Config = config, Nics = [.. spec.Nics, plan] };
    }

    [Fact]
    public async Task A_started_container_has_its_nic_up_and_reports_it_with_addresses_counters_and_host_name()
    {
        var eth0 = Plug("e0", "eth0", "00:16:3e:aa:00:01", "10.211.20.1");
        await using var c = await TestContainer.CreateAsync(shape: s => WithNic(s, eth0), nicNamespace: _ns.Path);

        Assert.Contains($"\nnic {eth0.HostName} eth0 00:16:3e:aa:00:01 1400 {eth0.Bridge}\n", await File.ReadAllTextAsync(Path.Combine(c.Spec.StateDir, "container.spec")));
        AssertHostEnd(eth0);
        Assert.Equal(0, (await c.ExecAsync("ip", "addr", "add", "10.211.20.2/24", "dev", "eth0")).Code);
        // Traffic from the test namespace: a TCP connect to a closed port (ARP + SYN in, ARP reply + RST out).
        var r = await HostCommand.RunUncheckedAsync("ip", ["netns", "exec", _ns.Name, "bash", "-c", "exec 3<>/dev/tcp/10.211.20.2/9"]);
        Assert.Contains("refused", r.Stderr, StringComparison.OrdinalIgnoreCase);

        var state = await c.Driver.GetStateAsync(c.Spec, None);
        var nic = state.Network["eth0"];
        Assert.Equal(("broadcast", "up", "00:16:3e:aa:00:01", 1400, eth0.HostName), (nic.Type, nic.State, nic.HwAddr, nic.Mtu, nic.HostName));
        Assert.Contains(new NetworkAddress("inet", "10.211.20.2", "24", "global"), nic.Addresses);
        Assert.Contains(nic.Addresses, a => a.Family == "inet6" && a.Address.StartsWith("fe80::", StringComparison.Ordinal) && a.Netmask == "64" && a.Scope == "link");
        Assert.True(nic.PacketsReceived >= 2 && nic.PacketsSent >= 2 && nic.BytesReceived > 0 && nic.BytesSent > 0, nic.ToString());
        var lo = state.Network["lo"];
        Assert.Equal(("loopback", "up", "", 65536, ""), (lo.Type, lo.State, lo.HwAddr, lo.Mtu, lo.HostName));
        Assert.Contains(new NetworkAddress("inet", "127.0.0.1", "8", "local"), lo.Addresses);
        Assert.Equal(["eth0", "lo"], state.Network.Keys.Order().ToArray());

        Assert.Equal($"/proc/{state.Pid}/ns/net", await c.Driver.NetworkNamespaceAsync(c.Spec, None));

        // Stop: the container's namespace goes, and the veth with it (the host end too).
        await c.Driver.StopAsync(c.Spec, true, TimeSpan.Zero, None);
        Assert.Null(await c.Driver.NetworkNamespaceAsync(c.Spec, None));
        Assert.Empty((await c.Driver.GetStateAsync(c.Spec, None)).Network);
        for (var i = 0; i < 200 && _host.GetLink(eth0.HostName) is not null; i++)
        {
            await Task.Delay(50); // the kernel tears a namespace down asynchronously (20 s hang guard)
        }
        Assert.Null(_host.GetLink(eth0.HostName));
    }

    [Fact]
    public async Task A_nic_is_hot_plugged_into_a_running_container_up_and_renamed()
    {
        await using var c = await TestContainer.CreateAsync(nicNamespace: _ns.Path);
        var net1 = Plug("n1", "net1", "00:16:3e:aa:00:02", "10.211.21.1");
        c.UseSpec(WithNic(c.Spec, net1) with { Nics = [] });
        await c.Driver.AttachNicAsync(c.Spec, net1, None);

        AssertHostEnd(net1);
        Assert.Equal("0x1003", (await c.ExecAsync("cat", "/sys/class/net/net1/flags")).Out.Trim());
        var nic = (await c.Driver.GetStateAsync(c.Spec, None)).Network["net1"];
        Assert.Equal(("up", "00:16:3e:aa:00:02", net1.HostName), (nic.State, nic.HwAddr, nic.HostName));

        // A name the container already has: refused before anything is made.
        var dup = Plug("n2", "net1", "00:16:3e:aa:00:03", "10.211.22.1");
        await Assert.ThrowsAsync<ConflictException>(() => c.Driver.AttachNicAsync(c.Spec, dup, None));
        Assert.Null(_host.GetLink(dup.HostName));

        // A bridge that is not there: the netlink error names it, and the pair made for it is gone.
        var missing = dup with { Bridge = "hlxnope" + _id, Name = "net2" };
        var e = await Assert.ThrowsAsync<ErrnoException>(() => c.Driver.AttachNicAsync(c.Spec, missing, None));
        Assert.Contains(missing.Bridge, e.Message, StringComparison.Ordinal);
        Assert.Null(_host.GetLink(missing.HostName));
        Assert.DoesNotContain("net2", (await c.ExecAsync("ls", "/sys/class/net")).Out);

        await c.Driver.StopAsync(c.Spec, true, TimeSpan.Zero, None);
        await Assert.ThrowsAsync<BadRequestException>(() => c.Driver.AttachNicAsync(c.Spec, dup, None));
    }

    [Fact]
    public async Task A_missing_bridge_fails_the_start_naming_it_and_nothing_runs()
    {
        var ghost = new NicPlan("eth0", "hlxhg" + _id, "eth0", "00:16:3e:aa:00:04", 1500, new Dictionary<string, string>()) { Bridge = "hlxbg" + _id };
        await using var c = await TestContainer.CreateAsync(start: false, shape: s => WithNic(s, ghost), nicNamespace: _ns.Path);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => c.Driver.StartAsync(c.Spec, None));
        Assert.Contains($"nic eth0: bridge {ghost.Bridge}: No such device", e.Message, StringComparison.Ordinal);
        Assert.Null(_host.GetLink(ghost.HostName));
        Assert.Equal(InstanceStatus.Stopped, (await c.Driver.GetStateAsync(c.Spec, None)).Status);
    }
}
