using System.Globalization;
using System.Net.WebSockets;
using System.Text.Json;
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
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);

    private static void MapExec(WebApplication app, string prefix) =>
        app.MapPost(prefix + "/{name}/exec", ctx => ExecAsync(ctx));

    /// <summary>
    /// The LXD exec protocol (lxd-api-5.0.2.md §2 "lxc exec"): fds 0/1/2 (or one pty on fd 0) and a
    /// control socket; the command starts once the data sockets are connected (control is optional:
    /// pylxd never opens it) and its exit code becomes <c>metadata.return</c>.
    /// </summary>
    private static async Task ExecAsync(HttpContext ctx)
    {
        var instances = ctx.Service<InstanceManager>();
        var operations = ctx.Service<OperationManager>();
        var sessions = ctx.Service<StreamSessions>();
        var e = await LoadAsync(ctx);
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.InstanceExecPost);
        if (req.Command is not { Count: > 0 } command || command[0].Length == 0)
        {
            throw new BadRequestException("\"command\" must name a program to run");
        }
        // As LXD 5.0.2: recording applies without websockets only (with them the client gets the output), and without a pty.
        var recorded = req.RecordOutput && !req.WaitForWebsocket;
        var interactive = req.Interactive && !recorded;
        var prepared = await instances.PrepareExecAsync(e, interactive, ctx.RequestAborted);
        var options = new ExecOptions(command, req.Environment ?? new(), interactive, req.Width, req.Height, req.User, req.Group, req.Cwd ?? "");
        if (recorded)
        {
            await Respond.Async(ctx, StartRecordedExec(ctx, e.Record.Name, prepared, options));
            return;
        }
        var data = req.Interactive ? new[] { "0" } : new[] { "0", "1", "2" };
        var session = new StreamSession(data.Append("control"));
        var metadata = new Dictionary<string, object?> { ["fds"] = session.Fds };
        var op = operations.Start(OperationClass.Websocket, "Executing command", async (op, ct) =>
        {
            IExecSession? exec = null;
            try
            {
                if (req.WaitForWebsocket)
                {
                    await session.WaitAsync(data, ConnectTimeout, ct);
                }
                exec = await prepared.StartAsync(options, ct);
                var code = await RunExecAsync(exec, options, session, req.WaitForWebsocket, prepared.Features, ct);
                op.SetMetadata("return", code);
                // As LXD (instance/drivers/driver_lxc_cmd.go): these statuses fail the operation, with
                // the status still in metadata.return, so `lxc exec` says why and exits with it.
                if (code is 126 or 127)
                {
                    throw new BadRequestException(code == 127 ? "Command not found" : "Command not executable");
                }
            }
            finally
            {
                await session.FinishAsync();
                sessions.Remove(op.Id);
                // Last: the driver's clean-up after an exec (a helper prepared for the next one) stays out of this one's way.
                if (exec is not null)
                {
                    await exec.DisposeAsync();
                }
            }
        }, Resources(e.Record.Name), metadata);
        sessions.Add(op.Id, session);
        await Respond.Async(ctx, op);
    }

    /// <summary>
    /// <c>record-output</c> (container_exec_recording): a task operation whose stdout and stderr go to
    /// <c>exec_OPID.stdout</c>/<c>.stderr</c> among the instance's logs; their URLs and the exit code end up
    /// in the operation's metadata (<c>output</c> {"1", "2"} and <c>return</c>), as LXD 5.0.2 reports them.
    /// </summary>
    private static Core.Operations.Operation StartRecordedExec(HttpContext ctx, string name, PreparedExec prepared, ExecOptions options)
    {
        var instances = ctx.Service<InstanceManager>();
        return ctx.Service<OperationManager>().Start(OperationClass.Task, "Executing command", async (op, ct) =>
        {
            var (stdoutPath, stderrPath) = instances.ExecRecordingPaths(name, op.Id);
            await using var stdout = new FileStream(stdoutPath, FileMode.Create, FileAccess.Write, FileShare.Read);
            await using var stderr = new FileStream(stderrPath, FileMode.Create, FileAccess.Write, FileShare.Read);
            await using var exec = await prepared.StartAsync(options, ct);
            exec.Stdin?.Close();
            var pumps = Task.WhenAll(exec.Stdout?.CopyToAsync(stdout, ct) ?? Task.CompletedTask, exec.Stderr?.CopyToAsync(stderr, ct) ?? Task.CompletedTask);
            var code = await exec.WaitAsync(ct);
            // A background process that keeps the pipes open must not hold the operation forever.
            await Task.WhenAny(pumps, Task.Delay(TimeSpan.FromSeconds(10), ct));
            await stdout.FlushAsync(CancellationToken.None);
            await stderr.FlushAsync(CancellationToken.None);
            var prefix = "/1.0/instances/" + Uri.EscapeDataString(name) + "/logs/";
            op.SetMetadata("output", new Dictionary<string, string> { ["1"] = prefix + Path.GetFileName(stdoutPath), ["2"] = prefix + Path.GetFileName(stderrPath) });
            op.SetMetadata("return", code);
            if (code is 126 or 127)
            {
                throw new BadRequestException(code == 127 ? "Command not found" : "Command not executable");
            }
        }, Resources(name), null);
    }

    private static async Task<int> RunExecAsync(IExecSession exec, ExecOptions options, StreamSession session, bool withSockets, DriverFeatures features, CancellationToken ct)
    {
        using var done = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var control = withSockets ? ControlAsync(session.SocketAsync("control"), exec, features, done.Token) : Task.CompletedTask;
        var pumps = new List<Task>();
        if (!withSockets)
        {
            exec.Stdin?.Close();
            pumps.Add(exec.Stdout?.CopyToAsync(Stream.Null, ct) ?? Task.CompletedTask);
            pumps.Add(exec.Stderr?.CopyToAsync(Stream.Null, ct) ?? Task.CompletedTask);
        }
        else if (options.Interactive)
        {
            var ws = session.Socket("0")!;
            _ = Pump.SocketToStreamAsync(ws, exec.Pty!, closeTarget: false, done.Token);
            pumps.Add(Pump.StreamToSocketAsync(exec.Pty!, ws, done.Token));
        }
        else
        {
            // stdin is read until the client closes it (not cut at the command's exit): see StreamSession's linger.
            session.Reading("0", Pump.SocketToStreamAsync(session.Socket("0")!, exec.Stdin!, closeTarget: true, ct));
            pumps.Add(Pump.StreamToSocketAsync(exec.Stdout!, session.Socket("1")!, done.Token));
            pumps.Add(Pump.StreamToSocketAsync(exec.Stderr!, session.Socket("2")!, done.Token));
        }
        var code = await exec.WaitAsync(ct);
        // Output still in flight is delivered; a background process that keeps a pty open must not hold the exec forever.
        await Task.WhenAny(Task.WhenAll(pumps), Task.Delay(TimeSpan.FromSeconds(options.Interactive ? 1 : 10), ct));
        await done.CancelAsync();
        await Task.WhenAny(control, Task.Delay(100, CancellationToken.None));
        return code;
    }

    /// <summary>
    /// Control messages: window-resize and signal (shared/api/instance_exec.go); one the driver does not
    /// support is dropped (a websocket message has no status to refuse it with).
    /// </summary>
    private static async Task ControlAsync(Task<WebSocket> connect, IExecSession exec, DriverFeatures features, CancellationToken ct)
    {
        WebSocket ws;
        try
        {
            ws = await connect.WaitAsync(ct);
        }
        catch (Exception e) when (e is OperationCanceledException or TaskCanceledException)
        {
            return;
        }
        var buffer = new byte[8192];
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var r = await ws.ReceiveAsync(buffer, ct);
                if (r.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
                if (!r.EndOfMessage)
                {
                    continue;
                }
                InstanceExecControl? msg;
                try
                {
                    msg = JsonSerializer.Deserialize(buffer.AsSpan(0, r.Count), ApiJsonContext.Default.InstanceExecControl);
                }
                catch (JsonException)
                {
                    continue;
                }
                if (msg?.Command == "window-resize" && msg.Args is { } args
                    && int.TryParse(args.GetValueOrDefault("width"), NumberStyles.None, CultureInfo.InvariantCulture, out var w)
                    && int.TryParse(args.GetValueOrDefault("height"), NumberStyles.None, CultureInfo.InvariantCulture, out var h))
                {
                    if (features.HasFlag(DriverFeatures.WindowResize))
                    {
                        exec.Resize(w, h);
                    }
                }
                else if (msg?.Command == "signal" && msg.Signal > 0 && features.HasFlag(DriverFeatures.Signals))
                {
                    exec.Signal(msg.Signal);
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
    }
}
