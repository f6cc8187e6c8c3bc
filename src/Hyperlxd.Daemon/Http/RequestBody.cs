using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Daemon.Http;

/// <summary>Reads JSON request bodies with a size cap and errors that name the offending field.</summary>
public static partial class RequestBody
{
    public const int MaxJsonBytes = 1 << 20;

    /// <summary>
    /// LXD ignores fields it does not know and real clients rely on it (Ansible's lxd_profile PUTs the
    /// whole response envelope back), so request bodies skip unknown members whatever the wire type says.
    /// Known fields with wrong types still fail.
    /// </summary>
    private static readonly JsonSerializerOptions Lenient = new(ApiJsonContext.Default.Options)
    {
        TypeInfoResolver = ApiJsonContext.Default.WithAddedModifier(t =>
        {
            if (t.Kind == JsonTypeInfoKind.Object)
            {
                t.UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip;
            }
        }),
    };

    public static async Task<T> ReadAsync<T>(HttpContext ctx, JsonTypeInfo<T> type)
    {
        var body = await ReadBytesAsync(ctx);
        RefuseNul(body.Span);
        var lenient = (JsonTypeInfo<T>)Lenient.GetTypeInfo(typeof(T));
        var value = JsonSerializer.Deserialize(body.Span, lenient)
            ?? throw new BadRequestException("Request body is null: a JSON object is expected");
        LogUnknownFields(ctx, body, lenient);
        return value;
    }

    /// <summary>
    /// No string of a request may hold a NUL: PostgreSQL cannot store one (22P05), and the native helpers
    /// read C strings. Typed checks name config keys; this catches every other field (descriptions, pool
    /// and volume config, names) with the field named.
    /// </summary>
    private static void RefuseNul(ReadOnlySpan<byte> body)
    {
        if (body.IndexOf("\\u0000"u8) < 0)
        {
            return;
        }
        var reader = new Utf8JsonReader(body);
        var field = "";
        while (reader.Read())
        {
            if (reader.TokenType is JsonTokenType.PropertyName or JsonTokenType.String && reader.GetString()!.Contains('\0'))
            {
                throw new BadRequestException(reader.TokenType == JsonTokenType.PropertyName
                    ? "Invalid field name: NUL characters are not allowed"
                    : $"Invalid value for \"{field}\": NUL characters are not allowed");
            }
            if (reader.TokenType == JsonTokenType.PropertyName)
            {
                field = reader.GetString()!;
            }
        }
    }

    private static async Task<ReadOnlyMemory<byte>> ReadBytesAsync(HttpContext ctx)
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
        return buffer.ToArray();
    }

    /// <summary>Ignored fields are worth a debug line: a client's typo otherwise goes unnoticed.</summary>
    private static void LogUnknownFields(HttpContext ctx, ReadOnlyMemory<byte> body, JsonTypeInfo type)
    {
        var logger = ctx.RequestServices?.GetService<ILoggerFactory>()?.CreateLogger(typeof(RequestBody));
        if (logger is null || !logger.IsEnabled(LogLevel.Debug))
        {
            return;
        }
        using var doc = JsonDocument.Parse(body);
        var unknown = new List<string>();
        UnknownFields(doc.RootElement, type, "", unknown);
        if (unknown.Count > 0)
        {
            logger.LogDebug("{Method} {Path}: ignoring unknown request fields {Fields}", ctx.Request.Method, ctx.Request.Path, string.Join(", ", unknown));
        }
    }

    /// <summary>Paths of the members of <paramref name="e"/> that <paramref name="type"/> does not map, recursively.</summary>
    public static void UnknownFields(JsonElement e, JsonTypeInfo type, string path, List<string> unknown)
    {
        switch (type.Kind)
        {
            case JsonTypeInfoKind.Object when e.ValueKind == JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    var known = type.Properties.FirstOrDefault(x => x.Name == p.Name);
                    if (known is null)
                    {
                        unknown.Add(path + p.Name);
                    }
                    else
                    {
                        UnknownFields(p.Value, type.Options.GetTypeInfo(known.PropertyType), path + p.Name + ".", unknown);
                    }
                }
                break;
            case JsonTypeInfoKind.Dictionary when e.ValueKind == JsonValueKind.Object && type.ElementType is { } valueType:
                foreach (var p in e.EnumerateObject())
                {
                    UnknownFields(p.Value, type.Options.GetTypeInfo(valueType), path + p.Name + ".", unknown);
                }
                break;
            case JsonTypeInfoKind.Enumerable when e.ValueKind == JsonValueKind.Array && type.ElementType is { } itemType:
                var i = 0;
                foreach (var item in e.EnumerateArray())
                {
                    UnknownFields(item, type.Options.GetTypeInfo(itemType), $"{path}{i++}.", unknown);
                }
                break;
        }
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
