using System.Text.Json.Serialization;

namespace Hyperlxd.Api;

/// <summary>A network (<c>GET /1.0/networks/{name}</c>): managed bridges and the host's own links (managed=false).</summary>
public sealed class Network
{
    public string Name { get; set; } = "";
    public string Description { get; set; } = "";
    public string Type { get; set; } = "";
    public bool Managed { get; set; }
    public string Status { get; set; } = "";
    public Dictionary<string, string> Config { get; set; } = new();
    public List<string> UsedBy { get; set; } = new();
    public List<string> Locations { get; set; } = new();
}

/// <summary>Body of <c>POST /1.0/networks</c> (<c>type</c> "" means bridge).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class NetworksPost
{
    public string? Name { get; set; }
    public string? Type { get; set; }
    public string? Description { get; set; }
    public Dictionary<string, string>? Config { get; set; }
}

/// <summary>Writable fields of a network (<c>PUT/PATCH /1.0/networks/{name}</c>).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class NetworkPut
{
    public string? Description { get; set; }
    public Dictionary<string, string>? Config { get; set; }

    // Read-only fields pylxd and `lxc network edit` send back: accepted and ignored.
    [JsonPropertyName("name")] public string? IgnoredName { get; set; }
    [JsonPropertyName("type")] public string? IgnoredType { get; set; }
    [JsonPropertyName("managed")] public bool? IgnoredManaged { get; set; }
    [JsonPropertyName("status")] public string? IgnoredStatus { get; set; }
    [JsonPropertyName("used_by")] public List<string>? IgnoredUsedBy { get; set; }
    [JsonPropertyName("locations")] public List<string>? IgnoredLocations { get; set; }
}

/// <summary>Body of <c>POST /1.0/networks/{name}</c>: a rename.</summary>
public sealed class NetworkPost
{
    public string? Name { get; set; }
}

/// <summary><c>GET /1.0/networks/{name}/state</c> (LXD's NetworkState; named apart from Core's instance NetworkState).</summary>
public sealed class NetworkLinkState
{
    public List<NetworkStateAddress> Addresses { get; set; } = new();
    public NetworkStateCounters Counters { get; set; } = new();
    public string Hwaddr { get; set; } = "";
    public int Mtu { get; set; }
    public string State { get; set; } = "";
    public string Type { get; set; } = "";
    public NetworkStateBridge? Bridge { get; set; }
}

public sealed class NetworkStateAddress
{
    public string Family { get; set; } = "";
    public string Address { get; set; } = "";
    public string Netmask { get; set; } = "";
    public string Scope { get; set; } = "";
}

public sealed class NetworkStateCounters
{
    public long BytesReceived { get; set; }
    public long BytesSent { get; set; }
    public long PacketsReceived { get; set; }
    public long PacketsSent { get; set; }
}

public sealed class NetworkStateBridge
{
    public string Id { get; set; } = "";
    public bool Stp { get; set; }
    public ulong ForwardDelay { get; set; }
    public ulong VlanDefault { get; set; }
    public bool VlanFiltering { get; set; }
    public List<string> UpperDevices { get; set; } = new();
}

/// <summary>One entry of <c>GET /1.0/networks/{name}/leases</c>.</summary>
public sealed class NetworkLease
{
    public string Hostname { get; set; } = "";
    public string Hwaddr { get; set; } = "";
    public string Address { get; set; } = "";
    /// <summary>"static" or "dynamic".</summary>
    public string Type { get; set; } = "";
    public string Location { get; set; } = "none";
    public string Project { get; set; } = "default";
}
