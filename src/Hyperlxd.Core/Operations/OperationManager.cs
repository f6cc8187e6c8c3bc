using System.Collections.Concurrent;
using Hyperlxd.Api;
using Hyperlxd.Core.Events;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Core.Operations;

/// <summary>
/// Runs and tracks operations. Finished operations stay visible for a short while so that clients
/// which poll (pylxd) still find them after the work is done.
/// </summary>
public sealed class OperationManager(EventHub events, ILogger<OperationManager> logger)
{
    private static readonly TimeSpan Linger = TimeSpan.FromSeconds(10);
    private readonly ConcurrentDictionary<string, Operation> _ops = new();
    private volatile bool _shuttingDown;

    public delegate Task RunHook(Operation op, CancellationToken ct);

    /// <summary>Creates an operation and, when <paramref name="run"/> is given, starts it in the background.</summary>
    public Operation Start(OperationClass cls, string description, RunHook? run,
        Dictionary<string, List<string>>? resources = null, Dictionary<string, object?>? metadata = null,
        bool mayCancel = false, Func<Operation, Task>? onCancel = null, string? project = null)
    {
        if (_shuttingDown)
        {
            throw new TransientException("The daemon is shutting down");
        }
        var op = new Operation(events, cls, description, resources, metadata, mayCancel, onCancel, project);
        _ops[op.Id] = op;
        events.PublishOperation(op.ToApi(), op.Project);
        if (run is not null)
        {
            _ = Task.Run(() => RunAsync(op, run));
        }
        return op;
    }

    private async Task RunAsync(Operation op, RunHook run)
    {
        try
        {
            await run(op, op.CancellationToken);
            op.Finish(StatusCode.Success);
        }
        catch (OperationCanceledException) when (op.CancellationToken.IsCancellationRequested)
        {
            op.Finish(StatusCode.Cancelled, "Operation cancelled");
        }
        catch (Exception e)
        {
            if (e is not HyperlxdException)
            {
                logger.LogError(e, "Operation {Id} ({Description}) failed", op.Id, op.Description);
            }
            op.Finish(StatusCode.Failure, e.Message);
        }
        finally
        {
            Forget(op);
        }
    }

    /// <summary>Marks an operation without a run hook (websocket, token) as done.</summary>
    public void Complete(Operation op, StatusCode status = StatusCode.Success, string err = "")
    {
        if (op.Finish(status, err))
        {
            Forget(op);
        }
    }

    private void Forget(Operation op) =>
        _ = Task.Delay(Linger).ContinueWith(_ =>
        {
            if (_ops.TryRemove(op.Id, out var gone))
            {
                gone.Dispose();
            }
        }, TaskScheduler.Default);

    public Operation Get(string id) =>
        _ops.TryGetValue(id, out var op) ? op : throw new NotFoundException("Operation not found");

    public IReadOnlyCollection<Operation> List() => _ops.Values.OrderBy(o => o.CreatedAt).ToList();

    public async Task CancelAsync(string id)
    {
        var op = Get(id);
        if (op.Status.IsFinal())
        {
            throw new BadRequestException("Only running operations can be cancelled");
        }
        if (!op.MayCancel)
        {
            throw new BadRequestException("This operation can't be cancelled");
        }
        if (op.OnCancel is not null)
        {
            await op.OnCancel(op);
        }
        op.RequestCancel();
        if (op.Class != OperationClass.Task)
        {
            Complete(op, StatusCode.Cancelled, "Operation cancelled");
        }
    }

    /// <summary>Waits for an operation to finish; a negative timeout waits forever. Returns whether it finished.</summary>
    public static async Task<bool> WaitAsync(Operation op, TimeSpan timeout, CancellationToken ct)
    {
        if (op.Completion.IsCompleted)
        {
            return true;
        }
        try
        {
            await op.Completion.WaitAsync(timeout < TimeSpan.Zero ? Timeout.InfiniteTimeSpan : timeout, ct);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>
    /// Shutdown: refuse new operations, cancel what may be cancelled (token operations end here),
    /// then give running tasks until <paramref name="timeout"/> to finish.
    /// </summary>
    public async Task ShutdownAsync(TimeSpan timeout)
    {
        _shuttingDown = true;
        foreach (var op in _ops.Values.Where(o => !o.Status.IsFinal()))
        {
            if (op.Class != OperationClass.Task)
            {
                Complete(op, StatusCode.Cancelled, "Daemon shutting down");
            }
            else if (op.MayCancel)
            {
                op.RequestCancel();
            }
        }
        var running = _ops.Values.Where(o => !o.Status.IsFinal()).Select(o => o.Completion).ToArray();
        if (running.Length > 0)
        {
            logger.LogInformation("Waiting up to {Timeout} for {Count} operations", timeout, running.Length);
            await Task.WhenAny(Task.WhenAll(running), Task.Delay(timeout));
        }
    }
}
