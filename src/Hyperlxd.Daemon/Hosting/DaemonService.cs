using Hyperlxd.Core.Events;
using Hyperlxd.Core.Operations;
using Hyperlxd.Daemon.Security;
using Hyperlxd.Instances;
using Hyperlxd.Networking;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Daemon.Hosting;

/// <summary>
/// Opens the daemon's state before the unix socket starts accepting (hosted services start before
/// the web server), opens the socket to its group once listening, and tears down in reverse on stop.
/// Order: the server identity, the database, the server config, the instance layer (pools, images,
/// instances), the trust store, HTTPS. The services that need the open database are resolved after it.
/// </summary>
public sealed class DaemonService(
    IServiceProvider services,
    DaemonOptions options,
    InstanceLayer layer,
    EventHub events,
    OperationManager operations,
    IHostApplicationLifetime lifetime,
    ILogger<DaemonService> logger) : IHostedService
{
    private Daemon? _daemon;

    public async Task StartAsync(CancellationToken ct)
    {
        services.GetRequiredService<ServerCertificate>();
        await layer.OpenAsync(ct);
        var daemon = services.GetRequiredService<Daemon>();
        _daemon = daemon;
        await daemon.LoadConfigAsync(ct);
        // Networks first: instances re-attach to (and autostart on) bridges that are up.
        await services.GetRequiredService<NetworkManager>().StartupAsync(ct);
        await layer.StartAsync(ct);
        await services.GetRequiredService<Warnings.HostWarnings>().RaiseAsync(ct);
        await services.GetRequiredService<TrustStore>().LoadAsync(ct);
        await daemon.StartHttpsAsync();
        lifetime.ApplicationStarted.Register(() =>
        {
            UnixSocket.GrantGroup(options.SocketPath, options.SocketGroup);
            daemon.MarkReady();
            events.PublishLifecycle("server-started", "/1.0");
            logger.LogInformation("Hyperlxd ready on {Socket}", options.SocketPath);
        });
    }

    public async Task StopAsync(CancellationToken ct)
    {
        logger.LogInformation("Shutting down");
        await operations.ShutdownAsync(_daemon?.ShutdownTimeout ?? TimeSpan.FromMinutes(5));
        await layer.StopAsync();
        if (_daemon is not null)
        {
            await services.GetRequiredService<HttpsListener>().DisposeAsync();
        }
        await layer.CloseAsync();
        try
        {
            File.Delete(options.SocketPath);
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
