using System.Net.WebSockets;
using Hyperlxd.Core;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Operations;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary><c>/1.0/events</c>: a websocket of operation, lifecycle and logging events, one JSON text frame each.</summary>
public static class EventEndpoints
{
    private static readonly string[] AllTypes = { EventHub.Operation, EventHub.Lifecycle, EventHub.Logging };

    public static void Map(WebApplication app)
    {
        app.MapGet("/1.0/events", ctx => StreamAsync(ctx));
    }

    private static async Task StreamAsync(HttpContext ctx)
    {
        var events = ctx.Service<EventHub>();
        var projects = ProjectFilter(ctx);
        if (!ctx.WebSockets.IsWebSocketRequest)
        {
            throw new BadRequestException("/1.0/events needs a websocket upgrade");
        }
        var types = ctx.Request.Query["type"].ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var unknown = types.FirstOrDefault(t => !AllTypes.Contains(t));
        if (unknown is not null)
        {
            throw new BadRequestException($"Unknown event type \"{unknown}\"");
        }
        // As LXD: the daemon's log stream is for unrestricted clients only.
        var admin = Security.Caller.Of(ctx).IsAdmin;
        if (!admin && types.Contains(EventHub.Logging))
        {
            throw new ForbiddenException("not authorized: logging events are for unrestricted clients only");
        }
        using var listener = events.Subscribe(types.Length > 0 ? types : AllTypes.Where(t => admin || t != EventHub.Logging).ToArray(), projects);
        using var socket = await ctx.WebSockets.AcceptWebSocketAsync();
        var stopping = ctx.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, stopping);
        // Clients send nothing but a close: reading notices when they go away.
        var reader = DrainAsync(socket, cts);
        try
        {
            var restricted = !admin;
            await foreach (var frame in listener.Reader.ReadAllAsync(cts.Token))
            {
                if (restricted && IsTokenOperation(frame))
                {
                    continue; // a token's secret would let a restricted client trust another certificate
                }
                await socket.SendAsync(frame, WebSocketMessageType.Text, true, cts.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            try
            {
                using var closeTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, closeTimeout.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException)
            {
            }
        }
        await reader;
    }

    /// <summary>
    /// As LXD 5.0.2 (lxd/events.go): a listener gets its project's events (<c>?project=</c>, default
    /// "default") or, with <c>all-projects=true</c>, every project's — a restricted certificate only
    /// those of its own projects. Events of no project go to every listener.
    /// </summary>
    internal static Func<string, bool>? ProjectFilter(HttpContext ctx)
    {
        var caller = Security.Caller.Of(ctx);
        var scope = ProjectScope.Of(ctx);
        if (scope.AllProjects && !string.IsNullOrEmpty(ctx.Request.Query["project"].ToString()))
        {
            throw new BadRequestException("Cannot specify a project when requesting all projects");
        }
        if (scope.AllProjects)
        {
            return caller.IsAdmin ? null : caller.CanAccessProject;
        }
        var project = scope.Name;
        if (!caller.CanAccessProject(project))
        {
            throw new ForbiddenException($"not authorized: this certificate is restricted to project(s) {string.Join(", ", caller.Projects ?? [])}, not \"{project}\"");
        }
        return p => p == project;
    }

    private static bool IsTokenOperation(ReadOnlyMemory<byte> frame)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(frame);
        return doc.RootElement.TryGetProperty("type", out var t) && t.ValueEquals(EventHub.Operation)
            && doc.RootElement.TryGetProperty("metadata", out var m) && m.ValueKind == System.Text.Json.JsonValueKind.Object
            && m.TryGetProperty("class", out var c) && c.ValueEquals("token");
    }

    private static async Task DrainAsync(WebSocket socket, CancellationTokenSource cts)
    {
        var buffer = new byte[1024];
        try
        {
            while (!cts.IsCancellationRequested)
            {
                var r = await socket.ReceiveAsync(buffer, cts.Token);
                if (r.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        await cts.CancelAsync();
    }
}
