using System.Text.Json;
using System.Threading.Channels;
using Hyperlxd.Api;

namespace Hyperlxd.Core.Events;

/// <summary>
/// Fan-out of <c>/1.0/events</c>: each event is serialised once and queued to every listener that
/// asked for its type. A listener that falls too far behind loses its oldest events rather than
/// holding memory or slowing the publisher.
/// </summary>
public sealed class EventHub
{
    public const string Operation = "operation";
    public const string Lifecycle = "lifecycle";
    public const string Logging = "logging";

    // Go's time.Time.UnmarshalJSON parses the raw JSON bytes, so System.Text.Json's default escaping
    // of '+' ("\u002B00:00", which the JsonElement round trip of the metadata produces) makes the
    // 5.0.2 client drop every operation event and wait forever. Events use the relaxed encoder.
    private static readonly ApiJsonContext Wire = new(new JsonSerializerOptions(ApiJsonContext.Default.Options)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    private readonly object _lock = new();
    private Listener[] _listeners = Array.Empty<Listener>();

    public sealed class Listener : IDisposable
    {
        private readonly EventHub _hub;
        internal readonly HashSet<string> Types;
        internal Func<string, bool>? Projects;
        internal readonly Channel<byte[]> Queue = Channel.CreateBounded<byte[]>(
            new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

        internal Listener(EventHub hub, IEnumerable<string> types)
        {
            _hub = hub;
            Types = new HashSet<string>(types);
        }

        public ChannelReader<byte[]> Reader => Queue.Reader;

        public void Dispose() => _hub.Remove(this);
    }

    public bool HasListeners => Volatile.Read(ref _listeners).Length > 0;

    /// <param name="projects">Which projects' events the listener gets (null: all); events of no project ("") go to everyone.</param>
    public Listener Subscribe(IEnumerable<string> types, Func<string, bool>? projects = null)
    {
        var listener = new Listener(this, types) { Projects = projects };
        lock (_lock)
        {
            _listeners = [.. _listeners, listener];
        }
        return listener;
    }

    private void Remove(Listener listener)
    {
        lock (_lock)
        {
            _listeners = _listeners.Where(l => l != listener).ToArray();
        }
        listener.Queue.Writer.TryComplete();
    }

    /// <param name="project">The operation's project (<see cref="Operations.Operation.Project"/>); null: from its resources.</param>
    public void PublishOperation(Operation op, string? project = null) =>
        Publish(Operation, JsonSerializer.SerializeToElement(op, ApiJsonContext.Default.Operation), project ?? Operations.Operation.ProjectOf(op.Resources));

    /// <summary>A lifecycle event belongs to the project its source URL names (<c>?project=</c>, else default).</summary>
    public void PublishLifecycle(string action, string source, Dictionary<string, object?>? context = null, EventLifecycleRequestor? requestor = null) =>
        Publish(Lifecycle, JsonSerializer.SerializeToElement(
            new EventLifecycle { Action = action, Source = source, Context = context ?? new(), Requestor = requestor },
            ApiJsonContext.Default.EventLifecycle), ProjectKeys.ProjectOfUrl(source));

    public void PublishLogging(string level, string message, Dictionary<string, string> context)
    {
        if (!HasListeners)
        {
            return;
        }
        Publish(Logging, JsonSerializer.SerializeToElement(
            new EventLogging { Level = level, Message = message, Context = context },
            ApiJsonContext.Default.EventLogging), "");
    }

    private void Publish(string type, JsonElement metadata, string project)
    {
        var listeners = Volatile.Read(ref _listeners);
        if (listeners.Length == 0)
        {
            return;
        }
        byte[]? bytes = null;
        foreach (var l in listeners)
        {
            if (l.Types.Contains(type) && (project == "" || l.Projects is null || l.Projects(project)))
            {
                bytes ??= JsonSerializer.SerializeToUtf8Bytes(
                    new Event { Type = type, Timestamp = DateTimeOffset.UtcNow, Metadata = metadata, Project = project },
                    Wire.Event);
                l.Queue.Writer.TryWrite(bytes);
            }
        }
    }
}
