using System.Text.Json.Serialization;

namespace Hyperlxd.Api;

/// <summary>A storage pool (<c>GET /1.0/storage-pools/{name}</c>).</summary>
public sealed class StoragePool
{
    public string Name { get; set; } = "";
    public string Driver { get; set; } = "";
    public string Description { get; set; } = "";
    public Dictionary<string, string> Config { get; set; } = new();
    public List<string> UsedBy { get; set; } = new();
    public string Status { get; set; } = "Created";
    public List<string> Locations { get; set; } = new() { "none" };
}

/// <summary>Body of <c>POST /1.0/storage-pools</c>.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class StoragePoolsPost
{
    public string? Name { get; set; }
    public string? Driver { get; set; }
    public string? Description { get; set; }
    public Dictionary<string, string>? Config { get; set; }
}

/// <summary>Writable fields of a pool (<c>PUT/PATCH /1.0/storage-pools/{name}</c>).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class StoragePoolPut
{
    public string? Description { get; set; }
    public Dictionary<string, string>? Config { get; set; }

    // Read-only fields pylxd sends back: accepted and ignored.
    [JsonPropertyName("name")] public string? IgnoredName { get; set; }
    [JsonPropertyName("driver")] public string? IgnoredDriver { get; set; }
    [JsonPropertyName("used_by")] public List<string>? IgnoredUsedBy { get; set; }
    [JsonPropertyName("status")] public string? IgnoredStatus { get; set; }
    [JsonPropertyName("locations")] public List<string>? IgnoredLocations { get; set; }
}

public sealed class StoragePoolResources
{
    public ResourcesStoragePoolSpace Space { get; set; } = new();
    public ResourcesStoragePoolInodes Inodes { get; set; } = new();
}

public sealed class ResourcesStoragePoolSpace
{
    public ulong Used { get; set; }
    public ulong Total { get; set; }
}

public sealed class ResourcesStoragePoolInodes
{
    public ulong Used { get; set; }
    public ulong Total { get; set; }
}

/// <summary>A storage volume (<c>GET /1.0/storage-pools/{pool}/volumes/{type}/{name}</c>).</summary>
public sealed class StorageVolume
{
    public string Name { get; set; } = "";
    public string Type { get; set; } = "custom";
    public string Description { get; set; } = "";
    public Dictionary<string, string> Config { get; set; } = new();
    public List<string> UsedBy { get; set; } = new();
    public string Location { get; set; } = "none";
    public string ContentType { get; set; } = "filesystem";
    public string Project { get; set; } = "default";
}

/// <summary>Where a new volume comes from: <c>type</c> "copy" of volume (or "VOLUME/SNAPSHOT") <c>name</c> on <c>pool</c>.</summary>
public sealed class StorageVolumeSource
{
    public string? Name { get; set; }
    public string? Type { get; set; }
    public string? Pool { get; set; }
    public string? Project { get; set; }
    public bool VolumeOnly { get; set; }
    public bool Refresh { get; set; }
}

/// <summary>Body of <c>POST /1.0/storage-pools/{pool}/volumes[/{type}]</c>.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class StorageVolumesPost
{
    public string? Name { get; set; }
    public string? Type { get; set; }
    public string? Description { get; set; }
    public string? ContentType { get; set; }
    public Dictionary<string, string>? Config { get; set; }
    public StorageVolumeSource? Source { get; set; }
}

/// <summary>Writable fields of a volume; <c>restore</c> rolls it back to a snapshot.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class StorageVolumePut
{
    public string? Description { get; set; }
    public Dictionary<string, string>? Config { get; set; }
    public string? Restore { get; set; }

    [JsonPropertyName("name")] public string? IgnoredName { get; set; }
    [JsonPropertyName("type")] public string? IgnoredType { get; set; }
    [JsonPropertyName("used_by")] public List<string>? IgnoredUsedBy { get; set; }
    [JsonPropertyName("location")] public string? IgnoredLocation { get; set; }
    [JsonPropertyName("content_type")] public string? IgnoredContentType { get; set; }
    [JsonPropertyName("project")] public string? IgnoredProject { get; set; }
}

/// <summary>Body of <c>POST /1.0/storage-pools/{pool}/volumes/{type}/{name}</c> (rename only).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class StorageVolumePost
{
    public string? Name { get; set; }
    public string? Pool { get; set; }
    public bool? Migration { get; set; }
    public string? Project { get; set; }
}

public sealed class StorageVolumeSnapshot
{
    public string Name { get; set; } = "";
    public string Description { get; set; } = "";
    public Dictionary<string, string> Config { get; set; } = new();
    public string ContentType { get; set; } = "filesystem";
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>As LXD: the zero time (0001-01-01T00:00:00Z) when the snapshot never expires.</summary>
    public DateTimeOffset ExpiresAt { get; set; }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class StorageVolumeSnapshotsPost
{
    public string? Name { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class StorageVolumeSnapshotPost
{
    public string? Name { get; set; }
    public bool? Migration { get; set; }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class StorageVolumeSnapshotPut
{
    public string? Description { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }

    [JsonPropertyName("name")] public string? IgnoredName { get; set; }
    [JsonPropertyName("config")] public Dictionary<string, string>? IgnoredConfig { get; set; }
    [JsonPropertyName("content_type")] public string? IgnoredContentType { get; set; }
    [JsonPropertyName("created_at")] public string? IgnoredCreatedAt { get; set; }
}
