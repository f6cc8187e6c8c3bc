using System.Text.Json.Serialization;

namespace Hyperlxd.Api;

/// <summary><c>GET /1.0/instances/{name}/backups/{backup}</c>. A zero <c>expires_at</c> (0001-01-01) means never, as in LXD.</summary>
public sealed class InstanceBackup
{
    public string Name { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    public bool InstanceOnly { get; set; }
    public bool ContainerOnly { get; set; }
    public bool OptimizedStorage { get; set; }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class InstanceBackupsPost
{
    public string? Name { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
    public bool InstanceOnly { get; set; }
    public bool ContainerOnly { get; set; }
    public bool OptimizedStorage { get; set; }
    public string? CompressionAlgorithm { get; set; }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class InstanceBackupPost
{
    public string? Name { get; set; }
}

/// <summary>
/// <c>backup/index.yaml</c> of a backup tarball (LXD 5.0.2's backup.Info): what the tarball holds and,
/// in <c>config</c>, the instance and its snapshots as the API shows them (LXD's backup.yaml).
/// </summary>
public sealed class BackupIndex
{
    public string Name { get; set; } = "";
    public string Backend { get; set; } = "";
    public string Pool { get; set; } = "";
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<string>? Snapshots { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? Optimized { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? OptimizedHeader { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Type { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public BackupConfig? Config { get; set; }
}

/// <summary>LXD's backup config (backup.yaml): the instance, its snapshots, the pool and the root volume; or a custom volume and its snapshots.</summary>
public sealed class BackupConfig
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public Instance? Container { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<InstanceSnapshot>? Snapshots { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public StoragePool? Pool { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public StorageVolume? Volume { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<StorageVolumeSnapshot>? VolumeSnapshots { get; set; }
}

/// <summary><c>GET /1.0/storage-pools/{pool}/volumes/custom/{name}/backups/{backup}</c> (<c>custom_volume_backup</c>).</summary>
public sealed class StoragePoolVolumeBackup
{
    public string Name { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    public bool VolumeOnly { get; set; }
    public bool OptimizedStorage { get; set; }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class StoragePoolVolumeBackupsPost
{
    public string? Name { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
    public bool VolumeOnly { get; set; }
    public bool OptimizedStorage { get; set; }
    public string? CompressionAlgorithm { get; set; }
}
