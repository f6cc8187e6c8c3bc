using System.Text.Json;
using Hyperlxd.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Daemon.Http;

/// <summary>The one place where exceptions become HTTP errors (LXD's SmartError).</summary>
public static class ErrorMapper
{
    public static async Task InvokeAsync(HttpContext ctx, RequestDelegate next, ILogger logger)
    {
        try
        {
            await next(ctx);
            // Routing answers unknown paths (404) and methods (405) with empty bodies: clients need the envelope.
            if (ctx.Response.StatusCode == 404 && !ctx.Response.HasStarted && ctx.GetEndpoint() is null)
            {
                await Respond.Error(ctx, 404, "not found");
            }
            else if (ctx.Response.StatusCode == 405 && !ctx.Response.HasStarted)
            {
                await Respond.Error(ctx, 405, $"Method {ctx.Request.Method} not allowed on {ctx.Request.Path}");
            }
        }
        catch (Exception e) when (!ctx.Response.HasStarted)
        {
            var (code, message) = Map(e);
            if (code >= 500)
            {
                logger.LogError(e, "{Method} {Path} failed", ctx.Request.Method, ctx.Request.Path);
            }
            ctx.Response.Clear();
            await Respond.Error(ctx, code, message);
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away mid-response: nothing left to tell it.
        }
    }

    public static (int Code, string Message) Map(Exception e) => e switch
    {
        HyperlxdException h => (h.StatusCode, h.Message),
        // A connection fault that escaped the database layer's own handling (TransientException above).
        // A string PostgreSQL cannot store (NUL) that escaped the request checks: the client's input, not a fault.
        Npgsql.PostgresException { SqlState: "22P05" or "22021" } p => (400, "Invalid input: " + p.MessageText),
        Npgsql.NpgsqlException n and not Npgsql.PostgresException => (503, "database unavailable: " + n.Message),
        JsonException j => (400, RequestBody.Describe(j)),
        BadHttpRequestException b => (b.StatusCode, b.Message),
        OperationCanceledException => (503, "Request cancelled: the daemon is shutting down"),
        UnauthorizedAccessException => (403, e.Message),
        FileNotFoundException or DirectoryNotFoundException => (404, e.Message),
        _ => (500, e.Message),
    };
}
