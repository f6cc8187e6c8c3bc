using System.Net;
using System.Net.Sockets;
using Hyperlxd.Interop.Linux;
using Hyperlxd.Interop.Linux.Netlink;

namespace Hyperlxd.Tests.Interop;

/// <summary>
/// RtNetlink against the real kernel, every socket opened with OpenIn in a namespace the test made (never
/// the host's); `ip` in that namespace cross-checks what netlink says it did.
/// </summary>
public sealed class RtNetlinkTests : IAsyncLifetime
{
    private TestNetns _ns = null!;
    private RtNetlink _nl = null!;

    public async Task InitializeAsync()
    {
        _ns = await TestNetns.CreateAsync();
        _nl = RtNetlink.OpenIn(_ns.Path);
    }

    public async Task DisposeAsync()
    {
        _nl.Dispose();
        await _ns.DisposeAsync();
    }

    [Fact]
    public void A_new_namespace_has_only_loopback_with_its_type_and_stats()
    {
        var links = _nl.GetLinks();
        var lo = Assert.Single(links);
        Assert.Equal("lo", lo.Name);
        Assert.Equal(772, lo.Type);
        Assert.Equal("", lo.Kind);
        Assert.Equal(65536, lo.Mtu);
        Assert.False(lo.Up);
        Assert.NotNull(lo.Stats);
        Assert.Equal(lo, _nl.GetLink("lo"));
    }

    [Fact]
    public async Task Bridge_and_veth_are_created_enslaved_configured_and_brought_up()
    {
        var hw = PhysicalAddress.Parse("00:16:3e:aa:bb:cc");
        var peerHw = PhysicalAddress.Parse("00:16:3E:11:22:33");
        _nl.CreateBridge("hlxbr0", mtu: 1400, hwaddr: hw);
        _nl.CreateVeth("vethhost", "vethpeer", mtu: 1400, peerHwaddr: peerHw);
        _nl.SetMaster("vethhost", "hlxbr0");
        _nl.SetUp("hlxbr0");
        _nl.SetUp("vethhost");
        _nl.SetUp("vethpeer");
        _nl.SetMtu("vethpeer", 1300);
        _nl.SetHwAddr("vethhost", PhysicalAddress.Parse("00:16:3e:00:00:01"));

        var br = _nl.GetLink("hlxbr0")!;
        Assert.Equal("bridge", br.Kind);
        Assert.Equal(1, br.Type);
        Assert.Equal(1400, br.Mtu);
        Assert.Equal(hw, br.HwAddr);
        Assert.True(br.Up);
        var host = _nl.GetLink("vethhost")!;
        Assert.Equal("veth", host.Kind);
        Assert.Equal(br.Index, host.MasterIndex);
        Assert.Equal("00:16:3e:00:00:01", host.HwAddr!.ToString());
        Assert.True(host.Up);
        var peer = _nl.GetLink("vethpeer")!;
        Assert.Equal(1300, peer.Mtu);
        Assert.Equal(peerHw, peer.HwAddr);
        Assert.Null(peer.MasterIndex);
        Assert.Equal("up", peer.OperState); // both ends up: the carrier is there

        Assert.Contains("master hlxbr0", await _ns.RunAsync("ip", "-o", "link", "show", "vethhost"), StringComparison.Ordinal);

        _nl.SetMaster("vethhost", null);
        Assert.Null(_nl.GetLink("vethhost")!.MasterIndex);
        _nl.SetUp("vethhost", up: false);
        Assert.False(_nl.GetLink("vethhost")!.Up);
        Assert.Equal(["hlxbr0", "lo", "vethhost", "vethpeer"], _nl.GetLinks().Select(l => l.Name).Order().ToArray());
    }

    [Fact]
    public async Task Addresses_and_their_routes_are_added_listed_and_deleted()
    {
        _nl.CreateBridge("hlxbr1");
        _nl.SetUp("hlxbr1");
        _nl.SetUp("lo");
        var v4 = IPAddress.Parse("10.211.7.1");
        var v6 = IPAddress.Parse("fd42:1:2:3::1");
        _nl.AddAddress("hlxbr1", v4, 24);
        _nl.AddAddress("hlxbr1", v4, 24); // idempotent
        _nl.AddAddress("hlxbr1", v6, 64);

        var mine = _nl.GetAddresses("hlxbr1");
        Assert.Contains(mine, a => a.Address.Equals(v4) && a.PrefixLength == 24 && a.Scope == "global");
        Assert.Contains(mine, a => a.Address.Equals(v6) && a.PrefixLength == 64 && a.Scope == "global");
        Assert.Contains(_nl.GetAddresses(), a => a.Address.Equals(IPAddress.Loopback) && a.PrefixLength == 8 && a.Scope == "host");
        Assert.DoesNotContain(mine, a => a.Address.Equals(IPAddress.Loopback));
        Assert.Contains("10.211.7.1/24", await _ns.RunAsync("ip", "-o", "addr", "show", "hlxbr1"), StringComparison.Ordinal);

        var index = _nl.GetLink("hlxbr1")!.Index;
        var routes = _nl.GetRoutes(AddressFamily.InterNetwork);
        Assert.Contains(new RouteInfo(IPAddress.Parse("10.211.7.0"), 24, null, index), routes);
        Assert.DoesNotContain(routes, r => r.Destination?.Equals(IPAddress.Loopback) == true); // the local table is not listed
        await _ns.RunAsync("ip", "route", "add", "default", "via", "10.211.7.254");
        Assert.Contains(new RouteInfo(null, 0, IPAddress.Parse("10.211.7.254"), index), _nl.GetRoutes(AddressFamily.InterNetwork));
        Assert.Contains(_nl.GetRoutes(AddressFamily.InterNetworkV6),
            r => r.Destination?.Equals(IPAddress.Parse("fd42:1:2:3::")) == true && r.PrefixLength == 64 && r.OutputLinkIndex == index);

        Assert.True(_nl.DeleteAddress("hlxbr1", v4, 24));
        Assert.False(_nl.DeleteAddress("hlxbr1", v4, 24));
        Assert.True(_nl.DeleteAddress("hlxbr1", v6, 64));
        Assert.DoesNotContain(_nl.GetAddresses("hlxbr1"), a => a.Scope == "global");
    }

    [Fact]
    public void Rename_and_delete_and_a_repeated_delete_is_false()
    {
        _nl.CreateVeth("hlxa", "hlxb");
        _nl.Rename("hlxa", "hlxrenamed");
        Assert.Null(_nl.GetLink("hlxa"));
        Assert.NotNull(_nl.GetLink("hlxrenamed"));
        Assert.True(_nl.DeleteLink("hlxrenamed"));
        Assert.Null(_nl.GetLink("hlxb")); // a veth's peer goes with it
        Assert.False(_nl.DeleteLink("hlxrenamed"));
        Assert.False(_nl.DeleteLink("no/such"));
    }

    [Fact]
    public async Task CreateVethInto_makes_the_inside_end_named_addressed_and_up_in_the_other_namespace()
    {
        await using var other = await TestNetns.CreateAsync();
        using (var fd = Syscalls.Open(other.Path, Tmds.Linux.LibC.O_RDONLY))
        {
            _nl.CreateVethInto(fd, "eth0", "hlxhost0", mtu: 1400, hwaddr: PhysicalAddress.Parse("00:16:3e:01:02:03"));
        }
        Assert.Null(_nl.GetLink("eth0"));
        Assert.Equal(1400, _nl.GetLink("hlxhost0")!.Mtu);
        using var there = RtNetlink.OpenIn(other.Path);
        var eth0 = there.GetLink("eth0")!;
        Assert.True(eth0.Up);
        Assert.Equal(1400, eth0.Mtu);
        Assert.Equal("veth", eth0.Kind);
        Assert.Equal("00:16:3e:01:02:03", eth0.HwAddr!.ToString());
        Assert.Equal(["eth0", "lo"], there.GetLinks().Select(l => l.Name).Order().ToArray());

        // Traffic across the pair shows in both ends' counters.
        _nl.SetUp("hlxhost0");
        _nl.AddAddress("hlxhost0", IPAddress.Parse("10.211.8.1"), 24);
        there.AddAddress("eth0", IPAddress.Parse("10.211.8.2"), 24);
        // A TCP connect to a closed port: ARP and SYN out, ARP reply and RST back before bash gives up.
        var r = await HostCommand.RunUncheckedAsync("ip", ["netns", "exec", other.Name, "bash", "-c", "exec 3<>/dev/tcp/10.211.8.1/9"]);
        Assert.Contains("refused", r.Stderr, StringComparison.OrdinalIgnoreCase);
        var stats = there.GetLink("eth0")!.Stats;
        Assert.True(stats.TxPackets >= 2 && stats.RxPackets >= 2 && stats.TxBytes > 0 && stats.RxBytes > 0, stats.ToString());
        Assert.True(_nl.GetLink("hlxhost0")!.Stats.RxPackets >= 2);
    }

    [Fact]
    public void A_duplicate_name_is_EEXIST_naming_the_link()
    {
        _nl.CreateBridge("hlxdup");
        var e = Assert.Throws<ErrnoException>(() => _nl.CreateBridge("hlxdup"));
        Assert.Equal(Errno.EEXIST, e.Errno);
        Assert.Contains("hlxdup", e.Message, StringComparison.Ordinal);
        var v = Assert.Throws<ErrnoException>(() => _nl.CreateVeth("hlxnew", "lo"));
        Assert.Equal(Errno.EEXIST, v.Errno);
        Assert.Null(_nl.GetLink("hlxnew")); // nothing half-created
    }

    [Fact]
    public void A_missing_link_is_null_false_or_ENODEV_naming_it()
    {
        Assert.Null(_nl.GetLink("hlxmissing"));
        Assert.False(_nl.DeleteLink("hlxmissing"));
        foreach (var op in new Action[]
        {
            () => _nl.SetUp("hlxmissing"),
            () => _nl.SetMtu("hlxmissing", 1400),
            () => _nl.Rename("hlxmissing", "hlxother"),
            () => _nl.SetMaster("hlxmissing", "lo"),
            () => _nl.AddAddress("hlxmissing", IPAddress.Parse("10.211.9.1"), 24),
            () => _nl.GetAddresses("hlxmissing"),
        })
        {
            var e = Assert.Throws<ErrnoException>(op);
            Assert.Equal(19, e.Errno); // ENODEV
            Assert.Contains("hlxmissing", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_name_the_kernel_would_refuse_is_EINVAL_naming_it()
    {
        var e = Assert.Throws<ErrnoException>(() => _nl.CreateBridge("a-name-far-too-long"));
        Assert.Equal(Errno.EINVAL, e.Errno);
        Assert.Contains("a-name-far-too-long", e.Message, StringComparison.Ordinal);
        Assert.Throws<ErrnoException>(() => _nl.CreateVeth("ok0", "bad:name"));
        Assert.Null(_nl.GetLink("ok0"));
    }

    [Fact]
    public void OpenIn_a_missing_namespace_throws_ENOENT_naming_it()
    {
        var e = Assert.Throws<ErrnoException>(() => RtNetlink.OpenIn("/run/netns/hlx-nl-does-not-exist"));
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Contains("hlx-nl-does-not-exist", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("00:16:3e:ab:cd:ef", "00:16:3e:ab:cd:ef")]
    [InlineData("00:16:3E:AB:CD:EF", "00:16:3e:ab:cd:ef")]
    [InlineData("00-16-3e-ab-cd-ef", "00:16:3e:ab:cd:ef")]
    public void PhysicalAddress_parses_and_prints_as_LXD_does(string input, string expected)
    {
        Assert.Equal(expected, PhysicalAddress.Parse(input).ToString());
        Assert.Equal(PhysicalAddress.Parse(expected), PhysicalAddress.Parse(input));
    }

    [Theory]
    [InlineData("")]
    [InlineData("00:16:3e:ab:cd")]
    [InlineData("00:16:3e:ab:cd:eg")]
    [InlineData("00:16-3e:ab:cd:ef")]
    [InlineData("0016.3eab.cdef.")]
    public void PhysicalAddress_rejects_what_is_not_a_MAC(string input)
    {
        Assert.Throws<FormatException>(() => PhysicalAddress.Parse(input));
    }

    [Theory]
    [InlineData("eth0", true)]
    [InlineData("veth1234567890a", true)]
    [InlineData("veth1234567890ab", false)]
    [InlineData("", false)]
    [InlineData(".", false)]
    [InlineData("a/b", false)]
    [InlineData("a:b", false)]
    [InlineData("a b", false)]
    public void InterfaceName_is_what_the_kernel_takes(string name, bool valid)
    {
        Assert.Equal(valid, InterfaceName.IsValid(name));
    }
}
