using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using Hyperlxd.Core;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Http;

/// <summary>Reads JSON request bodies with a size cap and errors that name the offending field.</summary>
public static partial class RequestBody
{
    public const int MaxJsonBytes = 1 << 20;

    public static async Task<T> ReadAsync<T>(HttpContext ctx, JsonTypeInfo<T> type)
    {
        if (ctx.Request.ContentLength > MaxJsonBytes)
        {
            throw new PayloadTooLargeException($"Request body too large: {ctx.Request.ContentLength} bytes, at most {MaxJsonBytes} are accepted");
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[16384];
        int n;
        while ((n = await ctx.Request.Body.ReadAsync(chunk, ctx.RequestAborted)) > 0)
        {
            if (buffer.Length + n > MaxJsonBytes)
            {
                throw new PayloadTooLargeException($"Request body too large: at most {MaxJsonBytes} bytes are accepted");
            }
            buffer.Write(chunk, 0, n);
        }
        if (buffer.Length == 0)
        {
            throw new BadRequestException("Request body is empty: a JSON object is expected");
        }
        return JsonSerializer.Deserialize(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), type)
            ?? throw new BadRequestException("Request body is null: a JSON object is expected");
    }

    /// <summary>Turns System.Text.Json's messages into LXD-style ones that name the field.</summary>
    public static string Describe(JsonException e)
    {
        if (UnmappedRegex().Match(e.Message) is { Success: true } m)
        {
            return $"Unknown field \"{m.Groups[1].Value}\" in request body";
        }
        var where = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : $" at \"{e.Path.TrimStart('$', '.')}\"";
        return e.Message.Contains("could not be converted", StringComparison.Ordinal)
            ? $"Invalid request body: wrong type for field{where}"
            : $"Invalid JSON in request body{where}: {e.Message.Split(" Path:")[0]}";
    }

    [GeneratedRegex("JSON property '([^']*)' could not be mapped")]
    private static partial Regex UnmappedRegex();
}
