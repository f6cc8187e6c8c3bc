using Hyperlxd.Core.Events;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Daemon.Hosting;

/// <summary>
/// Opens the daemon's state before the unix socket starts accepting (hosted services start before
/// the web server), opens the socket to its group once listening, and tears down in reverse on stop.
/// </summary>
public sealed class DaemonService(Daemon daemon, IHostApplicationLifetime lifetime, ILogger<DaemonService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken ct)
    {
        await daemon.StartAsync(ct);
        lifetime.ApplicationStarted.Register(() =>
        {
            UnixSocket.GrantGroup(daemon.Options.SocketPath, daemon.Options.SocketGroup);
            daemon.MarkReady();
            daemon.Events.PublishLifecycle("server-started", "/1.0");
            logger.LogInformation("Hyperlxd ready on {Socket}", daemon.Options.SocketPath);
        });
    }

    public async Task StopAsync(CancellationToken ct)
    {
        logger.LogInformation("Shutting down");
        await daemon.StopAsync();
        try
        {
            File.Delete(daemon.Options.SocketPath);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Forwards the daemon's own log lines to <c>/1.0/events</c> listeners of type "logging".</summary>
public sealed class EventLoggerProvider(EventHub events) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new EventLogger(events, categoryName);

    public void Dispose()
    {
    }

    private sealed class EventLogger(EventHub events, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information && events.HasListeners;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }
            var level = logLevel switch
            {
                LogLevel.Information => "info",
                LogLevel.Warning => "warning",
                LogLevel.Error => "error",
                _ => "critical",
            };
            var context = new Dictionary<string, string> { ["category"] = category };
            if (exception is not null)
            {
                context["err"] = exception.Message;
            }
            events.PublishLogging(level, formatter(state, exception), context);
        }
    }
}
