using System.Text.Json;

namespace Hyperlxd.Api;

/// <summary>The sync/async/error envelope every JSON response uses (shared/api/response.go).</summary>
public sealed class Response
{
    public string Type { get; set; } = "";
    public string Status { get; set; } = "";
    public int StatusCode { get; set; }
    public string Operation { get; set; } = "";
    public int ErrorCode { get; set; }
    public string Error { get; set; } = "";
    public JsonElement Metadata { get; set; }
}
