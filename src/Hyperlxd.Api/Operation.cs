namespace Hyperlxd.Api;

public sealed class Operation
{
    public string Id { get; set; } = "";
    public string Class { get; set; } = "task";
    public string Description { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
    public string Status { get; set; } = "";
    public int StatusCode { get; set; }
    public Dictionary<string, List<string>>? Resources { get; set; }
    public Dictionary<string, object?>? Metadata { get; set; }
    public bool MayCancel { get; set; }
    public string Err { get; set; } = "";
    public string Location { get; set; } = "none";
}

/// <summary>LXD status codes (shared/api/status_code.go); operations and instances share them.</summary>
public enum StatusCode
{
    OperationCreated = 100,
    Started = 101,
    Stopped = 102,
    Running = 103,
    Cancelling = 104,
    Pending = 105,
    Starting = 106,
    Stopping = 107,
    Aborting = 108,
    Freezing = 109,
    Frozen = 110,
    Thawed = 111,
    Error = 112,
    Ready = 113,
    Success = 200,
    Failure = 400,
    Cancelled = 401,
}

public static class StatusCodes
{
    public static bool IsFinal(this StatusCode code) => (int)code >= 200;

    public static string Text(this StatusCode code) => code switch
    {
        StatusCode.OperationCreated => "Operation created",
        _ => code.ToString(),
    };
}
