namespace Hyperlxd.Instances;

/// <summary>
/// Watches one host path (a unix device's <c>source</c>) appear and go with inotify (through
/// <see cref="FileSystemWatcher"/>): the nearest existing directory on its way is watched, and re-chosen
/// as directories come and go, so a source under a directory made later is seen too. Every relevant
/// event (and an overflow) calls <c>changed</c> once at a time; it must be idempotent, as events repeat.
/// </summary>
internal sealed class UnixSourceWatch : IDisposable
{
    private readonly string _source;
    private readonly Func<Task> _changed;
    /// <summary>The checks, one after the other.</summary>
    private Task _tail = Task.CompletedTask;
    private readonly object _sync = new();
    private FileSystemWatcher? _watcher;
    private string? _watched;
    private bool _disposed;

    public UnixSourceWatch(string source, Func<Task> changed)
    {
        _source = Path.GetFullPath(source);
        _changed = changed;
    }

    /// <summary>Arms the watch and runs one check now (the source may have appeared before the watch).</summary>
    public void Start()
    {
        Rearm();
        Poke();
    }

    /// <summary>The nearest existing directory holding the source (its parent once that exists).</summary>
    private string NearestDirectory()
    {
        var dir = Path.GetDirectoryName(_source) ?? "/";
        while (!Directory.Exists(dir))
        {
            dir = Path.GetDirectoryName(dir) ?? "/";
        }
        return dir;
    }

    private void Rearm()
    {
        lock (_sync)
        {
            if (_disposed)
            {
                return;
            }
            var dir = NearestDirectory();
            if (dir == _watched && _watcher is not null)
            {
                return;
            }
            _watcher?.Dispose();
            _watched = dir;
            _watcher = new FileSystemWatcher(dir);
            _watcher.IncludeSubdirectories = false;
            _watcher.NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.Attributes;
            _watcher.Created += OnEvent;
            _watcher.Deleted += OnEvent;
            _watcher.Changed += OnEvent;
            _watcher.Renamed += (_, e) =>
            {
                if (Relevant(e.OldFullPath) || Relevant(e.FullPath))
                {
                    Poke();
                }
            };
            _watcher.Error += (_, _) => Poke(); // overflow or the directory gone: look again
            _watcher.EnableRaisingEvents = true;
        }
    }

    /// <summary>The source itself, or a directory on its way.</summary>
    private bool Relevant(string path) => path == _source || _source.StartsWith(path.TrimEnd('/') + "/", StringComparison.Ordinal);

    private void OnEvent(object sender, FileSystemEventArgs e)
    {
        if (Relevant(e.FullPath))
        {
            Poke();
        }
    }

    private void Poke()
    {
        lock (_sync)
        {
            _tail = _tail.ContinueWith(_ => CheckAsync(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
        }
    }

    private async Task CheckAsync()
    {
        if (_disposed)
        {
            return;
        }
        try
        {
            Rearm(); // a directory on the way appeared or went
        }
        catch (Exception ex) when (ex is ArgumentException or IOException)
        {
            // the directory went between the look and the watch: the next event (or the error event) looks again
        }
        await _changed();
    }

    public void Dispose()
    {
        lock (_sync)
        {
            _disposed = true;
            _watcher?.Dispose();
            _watcher = null;
        }
    }
}
