using System.Text.Json.Serialization;

namespace Hyperlxd.Api;

/// <summary>A warning (<c>GET /1.0/warnings/{uuid}</c>, LXD 5.0.2's shared/api/warning.go).</summary>
public sealed class Warning
{
    public string Status { get; set; } = "new";
    public string Uuid { get; set; } = "";
    public string Location { get; set; } = "";
    public string Project { get; set; } = "";
    public string Type { get; set; } = "";
    public int Count { get; set; }
    public DateTimeOffset FirstSeenAt { get; set; }
    public DateTimeOffset LastSeenAt { get; set; }
    public string LastMessage { get; set; } = "";
    public string Severity { get; set; } = "";
    public string EntityUrl { get; set; } = "";
}

/// <summary>Body of <c>PUT/PATCH /1.0/warnings/{uuid}</c>: only the status changes.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Skip)]
public sealed class WarningPut
{
    public string? Status { get; set; }
}
