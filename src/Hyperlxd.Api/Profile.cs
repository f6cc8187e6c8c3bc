using System.Text.Json.Serialization;

namespace Hyperlxd.Api;

/// <summary>Writable fields of a profile (<c>PUT/PATCH /1.0/profiles/{name}</c>).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public class ProfilePut
{
    public string? Description { get; set; }
    public Dictionary<string, string>? Config { get; set; }
    public Dictionary<string, Dictionary<string, string>>? Devices { get; set; }

    // Read-only fields that clients such as pylxd send back on PUT: accepted and ignored.
    [JsonPropertyName("name")] public string? IgnoredName { get; set; }
    [JsonPropertyName("used_by")] public List<string>? IgnoredUsedBy { get; set; }
    [JsonPropertyName("project")] public string? IgnoredProject { get; set; }
}

/// <summary>Body of <c>POST /1.0/profiles</c>.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class ProfilesPost
{
    public string? Name { get; set; }
    public string? Description { get; set; }
    public Dictionary<string, string>? Config { get; set; }
    public Dictionary<string, Dictionary<string, string>>? Devices { get; set; }
}

/// <summary>Body of <c>POST /1.0/profiles/{name}</c> (rename).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class ProfilePost
{
    public string? Name { get; set; }
}

public sealed class Profile
{
    public string Name { get; set; } = "";
    public string Description { get; set; } = "";
    public Dictionary<string, string> Config { get; set; } = new();
    public Dictionary<string, Dictionary<string, string>> Devices { get; set; } = new();
    public List<string> UsedBy { get; set; } = new();
}
