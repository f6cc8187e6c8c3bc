using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Hyperlxd.Api;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Http;

/// <summary>Writes LXD's sync/async/error envelopes straight to the response stream.</summary>
public static class Respond
{
    private static readonly JsonWriterOptions WriterOptions = new() { SkipValidation = true };

    public static Task Sync<T>(HttpContext ctx, T metadata, JsonTypeInfo<T> type, string? etag = null)
    {
        if (etag is not null)
        {
            ctx.Response.Headers.ETag = "\"" + etag + "\"";
        }
        return Write(ctx, 200, "sync", w => JsonSerializer.Serialize(w, metadata, type));
    }

    /// <summary>A sync response with empty metadata (<c>{}</c>), as LXD answers most writes.</summary>
    public static Task Empty(HttpContext ctx) =>
        Write(ctx, 200, "sync", w => { w.WriteStartObject(); w.WriteEndObject(); });

    public static Task Async(HttpContext ctx, Core.Operations.Operation op)
    {
        ctx.Response.Headers.Location = op.Url;
        return Write(ctx, 202, "async", w => JsonSerializer.Serialize(w, op.ToApi(), ApiJsonContext.Default.Operation), op.Url);
    }

    /// <summary>A file as LXD's single-file response: raw bytes, its length, and its name for the client to save it under.</summary>
    public static Task File(HttpContext ctx, string path, string filename, string disposition = "attachment")
    {
        ctx.Response.ContentType = "application/octet-stream";
        ctx.Response.Headers.ContentDisposition = $"{disposition}; filename={filename}";
        ctx.Response.ContentLength = new FileInfo(path).Length;
        return ctx.Response.SendFileAsync(path, ctx.RequestAborted);
    }

    public static Task Error(HttpContext ctx, int code, string message) =>
        Write(ctx, code, "error", w => w.WriteNullValue(), error: message);

    private static async Task Write(HttpContext ctx, int code, string type, Action<Utf8JsonWriter> metadata, string operation = "", string? error = null)
    {
        ctx.Response.StatusCode = code;
        ctx.Response.ContentType = "application/json";
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("type"u8, type);
            if (error is null)
            {
                w.WriteString("status"u8, code == 202 ? "Operation created" : "Success");
                w.WriteNumber("status_code"u8, code == 202 ? 100 : 200);
                w.WriteString("operation"u8, operation);
                w.WriteNumber("error_code"u8, 0);
                w.WriteString("error"u8, "");
            }
            else
            {
                w.WriteString("status"u8, "");
                w.WriteNumber("status_code"u8, 0);
                w.WriteString("operation"u8, "");
                w.WriteNumber("error_code"u8, code);
                w.WriteString("error"u8, error);
            }
            w.WritePropertyName("metadata"u8);
            metadata(w);
            w.WriteEndObject();
        }
        ctx.Response.ContentLength = buffer.WrittenCount;
        await ctx.Response.Body.WriteAsync(buffer.WrittenMemory, ctx.RequestAborted);
    }
}
