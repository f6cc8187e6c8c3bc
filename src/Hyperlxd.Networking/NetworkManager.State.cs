using System.Globalization;
using System.Net.Sockets;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.Interop.Linux.Netlink;
using Hyperlxd.State.Repositories;

namespace Hyperlxd.Networking;

/// <summary>One instance nic with its profiles applied: what used_by, duplicate checks and leases read.</summary>
/// <param name="VolatileHostName">The host-side veth while the instance runs (its device's setup records it, teardown clears it).</param>
public sealed record InstanceNic(string Instance, string Device, IReadOnlyDictionary<string, string> Config, string? VolatileHwAddr, string? VolatileHostName = null)
{
    /// <summary>The network or parent link this nic is on ("" for p2p).</summary>
    public string Link => Config.GetValueOrDefault("network") is { Length: > 0 } n ? n : Config.GetValueOrDefault("parent", "");
}

/// <summary>Reads for the API: the managed and unmanaged networks, used_by, state and leases.</summary>
public sealed partial class NetworkManager
{
    /// <summary>Every instance's nic devices, profiles expanded in order and local devices on top.</summary>
    public async Task<List<InstanceNic>> InstanceNicsAsync(CancellationToken ct)
    {
        var profiles = (await Store.Profiles.ListAsync(ct)).ToDictionary(p => p.Name);
        var nics = new List<InstanceNic>();
        foreach (var i in await Store.Instances.ListAsync(ct))
        {
            var devices = ProfileExpansion.Expand(i.Profiles, profiles, i.Config, i.Devices).Devices;
            foreach (var (dev, cfg) in devices.Where(d => d.Value.GetValueOrDefault("type") == "nic"))
            {
                nics.Add(new InstanceNic(i.Name, dev, cfg, i.Config.GetValueOrDefault($"volatile.{dev}.hwaddr"), i.Config.GetValueOrDefault($"volatile.{dev}.host_name")));
            }
        }
        return nics;
    }

    /// <summary>
    /// URLs of the instances and profiles, of every project, whose devices name <paramref name="name"/> as network
    /// or parent (with <c>?project=</c> outside default, as LXD). Those of a project with <c>features.networks</c>
    /// name that project's networks, never the default project's, so they are left out (LXD's UsedBy).
    /// </summary>
    public async Task<List<string>> UsedByAsync(string name, CancellationToken ct)
    {
        static bool Uses(Dictionary<string, string> d, string name) =>
            d.GetValueOrDefault("type") == "nic" && (d.GetValueOrDefault("network") == name || d.GetValueOrDefault("parent") == name);
        var ownNetworks = (await Store.Projects.ListAsync(ct))
            .Where(p => p.Name != ProjectKeys.Default && Core.Config.LxdBool.IsTrue(p.Config.GetValueOrDefault("features.networks")))
            .Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var used = new List<string>();
        foreach (var p in await Store.Profiles.ListAsync(ct))
        {
            if (!ownNetworks.Contains(ProjectKeys.SplitScoped(p.Name).Project) && p.Devices.Values.Any(d => Uses(d, name)))
            {
                used.Add(ProjectKeys.ProfileUrl(p.Name));
            }
        }
        foreach (var nic in (await InstanceNicsAsync(ct)).Where(n => n.Link == name && !ownNetworks.Contains(ProjectKeys.InstanceProject(n.Instance))).DistinctBy(n => n.Instance))
        {
            used.Add(ProjectKeys.InstanceUrl(nic.Instance));
        }
        return used;
    }

    /// <summary>Managed networks first known by their rows, then the namespace's other links (managed=false).</summary>
    public async Task<List<Network>> ListAsync(CancellationToken ct)
    {
        var managed = await Repo.ListAsync(ct);
        var list = new List<Network>();
        foreach (var n in managed)
        {
            list.Add(await ToApiAsync(n, ct));
        }
        foreach (var link in Netlink.GetLinks().Where(l => !managed.Any(m => m.Name == l.Name)).OrderBy(l => l.Name, StringComparer.Ordinal))
        {
            list.Add(await UnmanagedAsync(link, ct));
        }
        return list.OrderBy(n => n.Name, StringComparer.Ordinal).ToList();
    }

    public async Task<Network> GetAsync(string name, CancellationToken ct)
    {
        if (await Repo.FindAsync(name, ct) is { } n)
        {
            return await ToApiAsync(n, ct);
        }
        return Netlink.GetLink(name) is { } link ? await UnmanagedAsync(link, ct) : throw new NotFoundException("Network not found");
    }

    private async Task<Network> ToApiAsync(NetworkRecord n, CancellationToken ct) => new()
    {
        Name = n.Name,
        Description = n.Description,
        Type = n.Type,
        Managed = true,
        Status = "Created",
        Config = new(n.Config),
        UsedBy = await UsedByAsync(n.Name, ct),
        Locations = ["none"],
    };

    private async Task<Network> UnmanagedAsync(LinkInfo link, CancellationToken ct) => new()
    {
        Name = link.Name,
        Type = LxdType(link),
        Managed = false,
        UsedBy = await UsedByAsync(link.Name, ct),
    };

    /// <summary>LXD's type of an unmanaged link.</summary>
    internal static string LxdType(LinkInfo link) => link switch
    {
        { Type: 772 } => "loopback",
        { Kind: "bridge" } => "bridge",
        { Kind: "bond" } => "bond",
        { Kind: "vlan" } => "vlan",
        { Kind: "macvlan" } => "macvlan",
        { Kind: "", Type: 1 } => "physical",
        _ => "unknown",
    };

    /// <summary><c>/state</c> of any link in the namespace.</summary>
    public Task<NetworkLinkState> StateAsync(string name, CancellationToken ct)
    {
        var rt = Netlink;
        var link = rt.GetLink(name) ?? throw new NotFoundException("Network interface not found");
        var state = new NetworkLinkState
        {
            Addresses = rt.GetAddresses(name).Select(a => new NetworkStateAddress
            {
                Family = a.Address.AddressFamily == AddressFamily.InterNetwork ? "inet" : "inet6",
                Address = a.Address.ToString(),
                Netmask = a.PrefixLength.ToString(CultureInfo.InvariantCulture),
                Scope = a.Scope,
            }).ToList(),
            Counters = new NetworkStateCounters
            {
                BytesReceived = link.Stats.RxBytes,
                BytesSent = link.Stats.TxBytes,
                PacketsReceived = link.Stats.RxPackets,
                PacketsSent = link.Stats.TxPackets,
            },
            Hwaddr = link.HwAddr?.ToString() ?? "",
            Mtu = link.Mtu,
            State = link.Up ? "up" : "down",
            Type = link.Type == 772 ? "loopback" : "broadcast",
        };
        if (link.Kind == "bridge")
        {
            state.Bridge = new NetworkStateBridge
            {
                Id = "8000." + (link.HwAddr?.ToString().Replace(":", "", StringComparison.Ordinal) ?? ""),
                ForwardDelay = 1500,
                VlanDefault = 1,
                UpperDevices = rt.GetLinks().Where(l => l.MasterIndex == link.Index).Select(l => l.Name).Order(StringComparer.Ordinal).ToList(),
            };
        }
        return Task.FromResult(state);
    }

    /// <summary>
    /// <c>/leases</c> of a managed network: the static identities of instance nics (hosts directory) and
    /// dnsmasq's dynamic leases, with the instance name for a known MAC.
    /// </summary>
    public async Task<List<NetworkLease>> LeasesAsync(string name, CancellationToken ct)
    {
        await GetManagedAsync(name, ct);
        var paths = PathsOf(name);
        var leases = new List<NetworkLease>();
        var names = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (Directory.Exists(paths.HostsDir))
        {
            foreach (var file in Directory.EnumerateFiles(paths.HostsDir).Order(StringComparer.Ordinal))
            {
                var parts = (await File.ReadAllTextAsync(file, ct)).Trim().Split(',');
                if (parts.Length < 2)
                {
                    continue;
                }
                var host = parts[^1];
                names[parts[0]] = host;
                if (parts.Length == 3)
                {
                    leases.Add(new NetworkLease { Hostname = host, Hwaddr = parts[0], Address = parts[1], Type = "static" });
                }
            }
        }
        if (File.Exists(paths.LeaseFile))
        {
            foreach (var line in await File.ReadAllLinesAsync(paths.LeaseFile, ct))
            {
                // expiry hwaddr address hostname client-id
                var f = line.Split(' ');
                if (f.Length < 4 || leases.Any(l => l.Address == f[2]))
                {
                    continue;
                }
                leases.Add(new NetworkLease
                {
                    Hostname = names.GetValueOrDefault(f[1]) ?? (f[3] == "*" ? "" : f[3]),
                    Hwaddr = f[1],
                    Address = f[2],
                    Type = "dynamic",
                });
            }
        }
        return leases;
    }
}
