using System.Text.Json;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// One daemon in a network namespace of its own, made by <c>hyperlxd init --auto</c> (so it has
/// lxdbr0 and eth0 in the default profile) with the busybox image: the networking tests of the stock
/// lxc client, pylxd and Ansible. Each test makes its own networks (distinct names, 10.201.N.0/24
/// subnets inside the namespace) and containers, and deletes them.
/// </summary>
public sealed class NetworkDaemon : IAsyncLifetime
{
    public DaemonProcess Daemon { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await ImageFixture.EnsureImagesAsync();
        Daemon = await DaemonProcess.StartAsync();
        await Daemon.PrepareContainersAsync(ImageFixture.Busybox);
    }

    public async Task DisposeAsync()
    {
        try
        {
            await Daemon.DeleteAllInstancesAsync();
        }
        finally
        {
            await Daemon.DisposeAsync();
        }
    }

    public Task<string> LxcOkAsync(params string[] args) => LxcOkAsync(Daemon, args);

    public static Task<string> LxcOkAsync(DaemonProcess d, params string[] args) => d.LxcOkAsync(args);

    /// <summary>A command on the daemon's side of its bridges (its network namespace); must succeed.</summary>
    public static async Task<string> HostSideOkAsync(DaemonProcess d, params string[] command)
    {
        var r = await d.RunInNetnsAsync(command[0], command[1..]);
        Assert.True(r.ExitCode == 0, $"{string.Join(' ', command)} in {d.NetnsName}: {r}");
        return r.Stdout;
    }

    /// <summary>A managed bridge with a fixed subnet and no IPv6 (nothing random in a test).</summary>
    public async Task CreateNetworkAsync(string name, string cidr, params string[] extra) =>
        await LxcOkAsync(["network", "create", name, $"ipv4.address={cidr}", "ipv6.address=none", .. extra]);

    /// <summary>
    /// A busybox container whose eth0 is on <paramref name="network"/> (overriding the default profile's),
    /// with extra nic keys, started, waited for until its IPv4 lease shows in <c>lxc list</c>.
    /// </summary>
    public async Task<string> LaunchOnAsync(string name, string network, params string[] nicKeys)
    {
        await LxcOkAsync("init", "busybox", name);
        await LxcOkAsync(["config", "device", "add", name, "eth0", "nic", $"network={network}", "name=eth0", .. nicKeys]);
        await LxcOkAsync("start", name);
        return await WaitForIpv4Async(Daemon, name);
    }

    /// <summary>The container's IPv4 address as <c>lxc list</c> shows it, once it has one (the image asks DHCP at boot).</summary>
    public static async Task<string> WaitForIpv4Async(DaemonProcess d, string name)
    {
        var last = "";
        for (var i = 0; i < 600; i++)
        {
            last = (await d.LxcAsync("list", name, "-c", "4", "--format", "csv")).Stdout.Trim();
            // "10.201.3.23 (eth0)"
            if (last.Length > 0)
            {
                return last.Split(' ')[0];
            }
            await Task.Delay(100);
        }
        Assert.Fail($"{name} got no IPv4 address in lxc list within 60 s: {await d.LxcAsync("list", name)}\n{await d.LxcAsync("exec", name, "--", "cat", "/var/log/udhcpc.log")}");
        return last;
    }

    /// <summary>
    /// What a refused request must leave as it was, seen from the daemon's namespace: its links, its
    /// nftables ruleset and its dnsmasq processes.
    /// </summary>
    public static async Task<string> HostStateAsync(DaemonProcess d)
    {
        var links = (await HostSideOkAsync(d, "ip", "-o", "link", "show")).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(':')[1].Trim().Split('@')[0]).Order();
        // Counters move with every packet: only the rules count.
        var nft = System.Text.RegularExpressions.Regex.Replace(await HostSideOkAsync(d, "nft", "list", "ruleset"), @"counter packets \d+ bytes \d+", "counter");
        var dnsmasq = (await DnsmasqAsync(d)).Select(p => p.Pid).Order();
        return $"links: {string.Join(' ', links)}\ndnsmasq: {string.Join(' ', dnsmasq)}\n{nft}";
    }

    /// <summary>The dnsmasq processes in the daemon's namespace, with their command lines.</summary>
    public static async Task<IReadOnlyList<(int Pid, string Cmdline)>> DnsmasqAsync(DaemonProcess d)
    {
        var result = new List<(int, string)>();
        foreach (var pid in await d.NetnsPidsAsync())
        {
            try
            {
                if (File.ReadAllText($"/proc/{pid}/comm").Trim() == "dnsmasq")
                {
                    result.Add((pid, File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ')));
                }
            }
            catch (IOException)
            {
            }
        }
        return result;
    }

    /// <summary>Names of the links enslaved to <paramref name="bridge"/> in the daemon's namespace.</summary>
    public static async Task<IReadOnlyList<string>> BridgePortsAsync(DaemonProcess d, string bridge) =>
        (await HostSideOkAsync(d, "ip", "-o", "link", "show", "master", bridge)).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(':')[1].Trim().Split('@')[0]).ToList();

    public async Task<JsonElement> LeasesAsync(string network)
    {
        var r = await Daemon.Api.GetAsync($"/1.0/networks/{network}/leases");
        Assert.True(r.Status == System.Net.HttpStatusCode.OK, r.ToString());
        return r.Metadata;
    }
}

[CollectionDefinition(Name)]
public sealed class NetworkDaemonCollection : ICollectionFixture<NetworkDaemon>
{
    public const string Name = "network daemon";
}
