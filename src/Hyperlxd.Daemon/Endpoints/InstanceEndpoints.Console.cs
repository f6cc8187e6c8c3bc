using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Operations;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Websockets;
using Hyperlxd.Instances;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

public static partial class InstanceEndpoints
{
    private static readonly string[] ConsoleFds = { "0", "control" };
    private static readonly string[] ConsoleData = { "0" };

    private static void MapConsole(WebApplication app, string prefix)
    {
        // lxc console --show-log: the raw ring-buffer bytes, not JSON.
        app.MapGet(prefix + "/{name}/console", async ctx =>
        {
            var instances = ctx.Service<InstanceManager>();
            var e = await LoadAsync(ctx);
            var log = await instances.ConsoleLogAsync(e, ctx.RequestAborted);
            ctx.Response.ContentType = "application/octet-stream";
            ctx.Response.ContentLength = log.Length;
            await ctx.Response.Body.WriteAsync(log, ctx.RequestAborted);
        });
        app.MapPost(prefix + "/{name}/console", ctx => ConsoleAsync(ctx));
    }

    /// <summary>An operation with fds 0 (two-way console bytes) and control; it ends when the client closes fd 0.</summary>
    private static async Task ConsoleAsync(HttpContext ctx)
    {
        var instances = ctx.Service<InstanceManager>();
        var operations = ctx.Service<OperationManager>();
        var sessions = ctx.Service<StreamSessions>();
        var e = await LoadAsync(ctx);
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.InstanceConsolePost);
        if (req.Type is { Length: > 0 } type && type != "console")
        {
            throw new BadRequestException($"Console type \"{type}\" is not supported for this instance");
        }
        var prepared = await instances.PrepareConsoleAsync(e, ctx.RequestAborted);
        var session = new StreamSession(ConsoleFds);
        var op = operations.Start(OperationClass.Websocket, "Showing console", async (op, ct) =>
        {
            try
            {
                await session.WaitAsync(ConsoleData, ConnectTimeout, ct);
                await using var console = await prepared.AttachAsync(ct);
                var ws = session.Socket("0")!;
                using var done = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var output = Pump.StreamToSocketAsync(console, ws, done.Token);
                await Pump.SocketToStreamAsync(ws, console, closeTarget: false, ct);
                await done.CancelAsync();
                await Task.WhenAny(output, Task.Delay(200, CancellationToken.None));
            }
            finally
            {
                await session.FinishAsync();
                sessions.Remove(op.Id);
            }
        }, Resources(e.Record.Name), new Dictionary<string, object?> { ["fds"] = session.Fds });
        sessions.Add(op.Id, session);
        await Respond.Async(ctx, op);
    }
}
