using System.Text.Json.Serialization;

namespace Hyperlxd.Api;

public class Instance
{
    public string Name { get; set; } = "";
    public string Description { get; set; } = "";
    public string Type { get; set; } = "container";
    public string Architecture { get; set; } = "";
    public Dictionary<string, string> Config { get; set; } = new();
    public Dictionary<string, Dictionary<string, string>> Devices { get; set; } = new();
    public Dictionary<string, string> ExpandedConfig { get; set; } = new();
    public Dictionary<string, Dictionary<string, string>> ExpandedDevices { get; set; } = new();
    public List<string> Profiles { get; set; } = new();
    public bool Ephemeral { get; set; }
    public bool Stateful { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset LastUsedAt { get; set; }
    public string Location { get; set; } = "none";
    public string Project { get; set; } = "default";
    public string Status { get; set; } = "Stopped";
    public int StatusCode { get; set; } = 102;
}

/// <summary><c>GET /1.0/instances/{name}?recursion=1</c> and list recursion 2: the instance with state and snapshots.</summary>
public sealed class InstanceFull : Instance
{
    public InstanceState? State { get; set; }
    public List<InstanceSnapshot> Snapshots { get; set; } = new();
    public List<object> Backups { get; set; } = new();
}

/// <summary>Writable fields (<c>PUT/PATCH /1.0/instances/{name}</c>); <c>restore</c> restores a snapshot and ignores the rest.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class InstancePut
{
    public string? Architecture { get; set; }
    public Dictionary<string, string>? Config { get; set; }
    public Dictionary<string, Dictionary<string, string>>? Devices { get; set; }
    public List<string>? Profiles { get; set; }
    public bool? Ephemeral { get; set; }
    public bool? Stateful { get; set; }
    public string? Description { get; set; }
    public string? Restore { get; set; }

    // Read-only fields pylxd sends back with a whole object: accepted and ignored.
    [JsonPropertyName("name")] public string? IgnoredName { get; set; }
    [JsonPropertyName("type")] public string? IgnoredType { get; set; }
    [JsonPropertyName("status")] public string? IgnoredStatus { get; set; }
    [JsonPropertyName("status_code")] public int? IgnoredStatusCode { get; set; }
    [JsonPropertyName("created_at")] public string? IgnoredCreatedAt { get; set; }
    [JsonPropertyName("last_used_at")] public string? IgnoredLastUsedAt { get; set; }
    [JsonPropertyName("location")] public string? IgnoredLocation { get; set; }
    [JsonPropertyName("project")] public string? IgnoredProject { get; set; }
    [JsonPropertyName("expanded_config")] public Dictionary<string, string>? IgnoredExpandedConfig { get; set; }
    [JsonPropertyName("expanded_devices")] public Dictionary<string, Dictionary<string, string>>? IgnoredExpandedDevices { get; set; }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class InstancesPost
{
    public string? Name { get; set; }
    public string? Type { get; set; }
    public string? Description { get; set; }
    public string? Architecture { get; set; }
    public Dictionary<string, string>? Config { get; set; }
    public Dictionary<string, Dictionary<string, string>>? Devices { get; set; }
    public List<string>? Profiles { get; set; }
    public bool Ephemeral { get; set; }
    public bool Stateful { get; set; }
    public InstanceSource? Source { get; set; }
    public string? InstanceType { get; set; }
    public string? Restore { get; set; }
}

/// <summary>Where a new instance comes from. Only local images and "none" are served; other types are refused by name.</summary>
public sealed class InstanceSource
{
    public string? Type { get; set; }
    public string? Alias { get; set; }
    public string? Fingerprint { get; set; }
    public Dictionary<string, string>? Properties { get; set; }
    public string? Server { get; set; }
    public string? Protocol { get; set; }
    public string? Certificate { get; set; }
    public string? Secret { get; set; }
    public string? Mode { get; set; }
    public string? Source { get; set; }
    public string? Project { get; set; }
    public bool AllowInconsistent { get; set; }
    [JsonPropertyName("base-image")] public string? BaseImage { get; set; }
    // Copy: a running source is copied live either way; instance_only leaves its snapshots behind.
    public bool Live { get; set; }
    public bool InstanceOnly { get; set; }
    public bool ContainerOnly { get; set; }
    public bool Refresh { get; set; }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class InstancePost
{
    public string? Name { get; set; }
    public bool Migration { get; set; }
    /// <summary>As in LXD, an absent "live" means true (a running instance may be stopped for a pool move).</summary>
    public bool Live { get; set; } = true;
    public bool InstanceOnly { get; set; }
    public bool ContainerOnly { get; set; }
    public string? Pool { get; set; }
    public string? Project { get; set; }
    public string? Target { get; set; }
    public bool AllowInconsistent { get; set; }
}

public sealed class InstanceState
{
    public string Status { get; set; } = "Stopped";
    public int StatusCode { get; set; } = 102;
    public Dictionary<string, InstanceStateDisk> Disk { get; set; } = new();
    public InstanceStateMemory Memory { get; set; } = new();
    public Dictionary<string, InstanceStateNetwork> Network { get; set; } = new();
    public long Pid { get; set; }
    public long Processes { get; set; }
    public InstanceStateCpu Cpu { get; set; } = new();
}

public sealed class InstanceStateDisk
{
    public long Usage { get; set; }
}

public sealed class InstanceStateCpu
{
    public long Usage { get; set; }
}

public sealed class InstanceStateMemory
{
    public long Usage { get; set; }
    public long UsagePeak { get; set; }
    public long SwapUsage { get; set; }
    public long SwapUsagePeak { get; set; }
}

public sealed class InstanceStateNetwork
{
    public List<InstanceStateNetworkAddress> Addresses { get; set; } = new();
    public InstanceStateNetworkCounters Counters { get; set; } = new();
    public string Hwaddr { get; set; } = "";
    public string HostName { get; set; } = "";
    public int Mtu { get; set; }
    public string State { get; set; } = "up";
    public string Type { get; set; } = "";
}

public sealed class InstanceStateNetworkAddress
{
    public string Family { get; set; } = "";
    public string Address { get; set; } = "";
    public string Netmask { get; set; } = "";
    public string Scope { get; set; } = "";
}

public sealed class InstanceStateNetworkCounters
{
    public long BytesReceived { get; set; }
    public long BytesSent { get; set; }
    public long PacketsReceived { get; set; }
    public long PacketsSent { get; set; }
    public long ErrorsReceived { get; set; }
    public long ErrorsSent { get; set; }
    public long PacketsDroppedOutbound { get; set; }
    public long PacketsDroppedInbound { get; set; }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class InstanceStatePut
{
    public string? Action { get; set; }
    public int Timeout { get; set; }
    public bool Force { get; set; }
    public bool Stateful { get; set; }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class InstanceExecPost
{
    public List<string>? Command { get; set; }
    [JsonPropertyName("wait-for-websocket")] public bool WaitForWebsocket { get; set; }
    public bool Interactive { get; set; }
    public Dictionary<string, string>? Environment { get; set; }
    public int Width { get; set; }
    public int Height { get; set; }
    [JsonPropertyName("record-output")] public bool RecordOutput { get; set; }
    public uint User { get; set; }
    public uint Group { get; set; }
    public string? Cwd { get; set; }
}

/// <summary>A control-socket message of an exec or console session (shared/api/instance_exec.go).</summary>
public sealed class InstanceExecControl
{
    public string Command { get; set; } = "";
    public Dictionary<string, string>? Args { get; set; }
    public int Signal { get; set; }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class InstanceConsolePost
{
    public int Width { get; set; }
    public int Height { get; set; }
    public string? Type { get; set; }
}

public sealed class InstanceSnapshot
{
    public string Name { get; set; } = "";
    public string Architecture { get; set; } = "";
    public Dictionary<string, string> Config { get; set; } = new();
    public Dictionary<string, Dictionary<string, string>> Devices { get; set; } = new();
    public Dictionary<string, string> ExpandedConfig { get; set; } = new();
    public Dictionary<string, Dictionary<string, string>> ExpandedDevices { get; set; } = new();
    public List<string> Profiles { get; set; } = new();
    public bool Ephemeral { get; set; }
    public bool Stateful { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>As LXD: the zero time (0001-01-01T00:00:00Z) when the snapshot never expires.</summary>
    public DateTimeOffset ExpiresAt { get; set; }
    public DateTimeOffset LastUsedAt { get; set; }
    public long Size { get; set; } = -1;
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class InstanceSnapshotsPost
{
    public string? Name { get; set; }
    public bool Stateful { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class InstanceSnapshotPost
{
    public string? Name { get; set; }
    public bool Migration { get; set; }
    /// <summary>As in LXD, an absent "live" means true (a running instance may be stopped for a pool move).</summary>
    public bool Live { get; set; } = true;
    public string? Target { get; set; }
}
