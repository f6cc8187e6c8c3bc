using Hyperlxd.Api;
using Hyperlxd.Core.Events;

namespace Hyperlxd.Core.Operations;

public enum OperationClass
{
    Task,
    Websocket,
    Token,
}

/// <summary>
/// One background operation. Status moves Running → Success | Failure | Cancelled and every change
/// is published as an <c>operation</c> event, which is how the 5.0.2 client learns that it finished.
/// </summary>
public sealed class Operation : IDisposable
{
    private readonly object _lock = new();
    private readonly EventHub _events;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _cts = new();
    private readonly Dictionary<string, object?> _metadata;
    private StatusCode _status = StatusCode.Running;
    private string _err = "";
    private DateTimeOffset _updatedAt;
    private readonly string? _project;

    internal Operation(EventHub events, OperationClass cls, string description,
        Dictionary<string, List<string>>? resources, Dictionary<string, object?>? metadata, bool mayCancel,
        Func<Operation, Task>? onCancel, string? project = null)
    {
        _events = events;
        _project = project;
        Class = cls;
        Description = description;
        Resources = resources;
        _metadata = metadata ?? new();
        MayCancel = mayCancel;
        OnCancel = onCancel;
        CreatedAt = _updatedAt = DateTimeOffset.UtcNow;
        CancellationToken = _cts.Token;
    }

    /// <summary>Called by the manager when it forgets a finished operation.</summary>
    public void Dispose() => _cts.Dispose();

    public string Id { get; } = Guid.NewGuid().ToString();
    public OperationClass Class { get; }
    public string Description { get; }
    public DateTimeOffset CreatedAt { get; }
    public Dictionary<string, List<string>>? Resources { get; }

    /// <summary>
    /// The project the operation works in: the one it was started for (work with no resource yet, such as an
    /// image pull: LXD's OperationCreate(projectName)), else from its project-scoped resources (their
    /// <c>?project=</c>); "" when it has none (server-wide work, seen from every project as LXD sends unscoped events).
    /// </summary>
    public string Project => _project ?? ProjectOf(Resources);

    public static string ProjectOf(Dictionary<string, List<string>>? resources)
    {
        foreach (var kind in ScopedResources)
        {
            if (resources?.GetValueOrDefault(kind) is { Count: > 0 } urls)
            {
                return ProjectKeys.ProjectOfUrl(urls[0]);
            }
        }
        return "";
    }

    private static readonly string[] ScopedResources = { "instances", "containers", "virtual-machines", "profiles", "storage_volumes", "images" };

    public bool MayCancel { get; }
    internal Func<Operation, Task>? OnCancel { get; }
    public string Url => "/1.0/operations/" + Id;
    /// <summary>Read once, so it stays usable after the operation is disposed (its manager forgets it).</summary>
    public CancellationToken CancellationToken { get; }
    public Task Completion => _done.Task;
    internal DateTimeOffset? FinishedAt { get; private set; }

    public StatusCode Status
    {
        get { lock (_lock) { return _status; } }
    }

    public object? GetMetadata(string key)
    {
        lock (_lock)
        {
            return _metadata.GetValueOrDefault(key);
        }
    }

    public void SetMetadata(string key, object? value)
    {
        lock (_lock)
        {
            _metadata[key] = value;
            _updatedAt = DateTimeOffset.UtcNow;
        }
        _events.PublishOperation(ToApi(), Project);
    }

    /// <summary>Moves to a final state once; later calls are ignored.</summary>
    internal bool Finish(StatusCode status, string err = "")
    {
        lock (_lock)
        {
            if (_status.IsFinal())
            {
                return false;
            }
            _status = status;
            _err = err;
            _updatedAt = DateTimeOffset.UtcNow;
            FinishedAt = _updatedAt;
        }
        _events.PublishOperation(ToApi(), Project);
        _done.TrySetResult();
        return true;
    }

    internal void RequestCancel()
    {
        lock (_lock)
        {
            if (_status.IsFinal())
            {
                return;
            }
            _status = StatusCode.Cancelling;
            _updatedAt = DateTimeOffset.UtcNow;
        }
        _events.PublishOperation(ToApi(), Project);
        _cts.Cancel();
    }

    public Api.Operation ToApi()
    {
        lock (_lock)
        {
            return new Api.Operation
            {
                Id = Id,
                Class = Class switch { OperationClass.Websocket => "websocket", OperationClass.Token => "token", _ => "task" },
                Description = Description,
                CreatedAt = CreatedAt,
                UpdatedAt = _updatedAt,
                Status = _status.Text(),
                StatusCode = (int)_status,
                Resources = Resources,
                Metadata = new Dictionary<string, object?>(_metadata),
                MayCancel = MayCancel,
                Err = _err,
            };
        }
    }
}
