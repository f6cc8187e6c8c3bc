using System.Text.Json;

namespace Hyperlxd.Api;

public sealed class Event
{
    public string Type { get; set; } = "";
    public DateTimeOffset Timestamp { get; set; }
    public JsonElement Metadata { get; set; }
    public string Location { get; set; } = "none";
    public string Project { get; set; } = "default";
}

public sealed class EventLifecycle
{
    public string Action { get; set; } = "";
    public string Source { get; set; } = "";
    public Dictionary<string, object?> Context { get; set; } = new();
    public EventLifecycleRequestor? Requestor { get; set; }
}

public sealed class EventLifecycleRequestor
{
    public string Username { get; set; } = "";
    public string Protocol { get; set; } = "";
    public string Address { get; set; } = "";
}

public sealed class EventLogging
{
    public string Message { get; set; } = "";
    public string Level { get; set; } = "";
    public Dictionary<string, string> Context { get; set; } = new();
}
