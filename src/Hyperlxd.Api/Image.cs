using System.Text.Json.Serialization;

namespace Hyperlxd.Api;

/// <summary>Writable fields of an image (<c>PUT/PATCH /1.0/images/{fp}</c>).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public class ImagePut
{
    public bool? AutoUpdate { get; set; }
    public Dictionary<string, string>? Properties { get; set; }
    public bool? Public { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
    public List<string>? Profiles { get; set; }

    // Read-only fields that clients such as pylxd send back on PUT: accepted and ignored.
    [JsonPropertyName("fingerprint")] public string? IgnoredFingerprint { get; set; }
    [JsonPropertyName("filename")] public string? IgnoredFilename { get; set; }
    [JsonPropertyName("size")] public long? IgnoredSize { get; set; }
    [JsonPropertyName("architecture")] public string? IgnoredArchitecture { get; set; }
    [JsonPropertyName("type")] public string? IgnoredType { get; set; }
    [JsonPropertyName("aliases")] public List<ImageAlias>? IgnoredAliases { get; set; }
    [JsonPropertyName("created_at")] public DateTimeOffset? IgnoredCreatedAt { get; set; }
    [JsonPropertyName("uploaded_at")] public DateTimeOffset? IgnoredUploadedAt { get; set; }
    [JsonPropertyName("last_used_at")] public DateTimeOffset? IgnoredLastUsedAt { get; set; }
    [JsonPropertyName("cached")] public bool? IgnoredCached { get; set; }
    [JsonPropertyName("update_source")] public ImageSource? IgnoredUpdateSource { get; set; }
    [JsonPropertyName("project")] public string? IgnoredProject { get; set; }
}

/// <summary>An image as LXD 5.0.2 returns it.</summary>
public sealed class Image
{
    public bool AutoUpdate { get; set; }
    public Dictionary<string, string> Properties { get; set; } = new();
    public bool Public { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    public List<string> Profiles { get; set; } = new() { "default" };
    public List<ImageAlias> Aliases { get; set; } = new();
    public string Architecture { get; set; } = "";
    public bool Cached { get; set; }
    public string Filename { get; set; } = "";
    public string Fingerprint { get; set; } = "";
    public long Size { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ImageSource? UpdateSource { get; set; }
    public string Type { get; set; } = "container";
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset LastUsedAt { get; set; }
    public DateTimeOffset UploadedAt { get; set; }
}

/// <summary>An alias as listed inside an image object.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class ImageAlias
{
    public string Name { get; set; } = "";
    public string Description { get; set; } = "";
}

/// <summary>Where an image came from (for auto-update) and what a remote source names.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public class ImageSource
{
    public string? Alias { get; set; }
    public string? Certificate { get; set; }
    public string? Protocol { get; set; }
    public string? Server { get; set; }
    public string? ImageType { get; set; }
}

/// <summary><c>source</c> of <c>POST /1.0/images</c> with a JSON body.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class ImagesPostSource : ImageSource
{
    public string? Fingerprint { get; set; }
    public string? Secret { get; set; }
    public string? Mode { get; set; }
    public string? Type { get; set; }
    public string? Url { get; set; }
    public string? Name { get; set; }
    public string? Project { get; set; }
}

/// <summary>Body of <c>POST /1.0/images</c> when it is JSON (remote sources).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class ImagesPost
{
    public bool? AutoUpdate { get; set; }
    public Dictionary<string, string>? Properties { get; set; }
    public bool? Public { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
    public List<string>? Profiles { get; set; }
    public string? Filename { get; set; }
    public ImagesPostSource? Source { get; set; }
    public string? CompressionAlgorithm { get; set; }
    public List<ImageAlias>? Aliases { get; set; }
}

/// <summary>An alias entry (<c>/1.0/images/aliases/{name}</c>), also the body of its POST.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class ImageAliasesEntry
{
    public string? Name { get; set; }
    public string? Description { get; set; }
    public string? Target { get; set; }
    public string? Type { get; set; }
}

/// <summary>Body of <c>PUT/PATCH /1.0/images/aliases/{name}</c>.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class ImageAliasesEntryPut
{
    public string? Description { get; set; }
    public string? Target { get; set; }
    [JsonPropertyName("name")] public string? IgnoredName { get; set; }
    [JsonPropertyName("type")] public string? IgnoredType { get; set; }
}

/// <summary>Body of <c>POST /1.0/images/aliases/{name}</c> (rename).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class ImageAliasesEntryPost
{
    public string? Name { get; set; }
}
