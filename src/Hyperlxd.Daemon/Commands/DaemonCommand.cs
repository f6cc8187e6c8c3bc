using Hyperlxd.Containers;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Operations;
using Hyperlxd.Daemon.Hosting;
using Hyperlxd.Daemon.Security;
using Hyperlxd.Daemon.Websockets;
using Hyperlxd.Instances;
using Hyperlxd.Networking;
using Hyperlxd.Vms;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Daemon.Commands;

/// <summary><c>hyperlxd daemon</c>: the Generic Host with Kestrel on the unix socket.</summary>
public static class DaemonCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length > 0)
        {
            throw new UsageException($"unexpected argument \"{args[0]}\"");
        }
        if (Environment.UserName != "root")
        {
            throw new CommandException("the daemon must run as root");
        }
        var options = DaemonOptions.Load(DaemonOptions.DefaultStateDir);
        var cgroupBackend = CgroupBackendOverride();
        await PrepareStateDirAsync(options);
        // One daemon per state directory: the lock is held for the life of the process.
        using var lockFile = DaemonLock.Acquire(options.StateDir, TimeSpan.FromMinutes(2));

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<EventHub>();
        builder.Services.AddSingleton<OperationManager>();
        builder.Services.AddInstanceLayer(new InstanceLayerOptions(options.StateDir, options.DatabaseUrl, options.DatabaseUser, options.DatabaseTimeout));
        builder.Services.AddNetworking(new NetworkManagerOptions(options.StateDir));
        // The server: its identity, config and HTTPS; trust; websocket sessions.
        builder.Services.AddSingleton(_ => ServerCertificate.LoadOrCreate(options.StateDir));
        builder.Services.AddSingleton<HttpsListener>();
        builder.Services.AddSingleton<Daemon>();
        builder.Services.AddSingleton<IServerConfigSource>(sp => sp.GetRequiredService<Daemon>());
        builder.Services.AddSingleton<TrustStore>();
        builder.Services.AddSingleton<Warnings.HostWarnings>();
        builder.Services.AddSingleton<Projects.ProjectPolicy>();
        builder.Services.AddSingleton<Instances.Snapshots.ISnapshotGate>(sp => sp.GetRequiredService<Projects.ProjectPolicy>());
        builder.Services.AddSingleton<Projects.ProjectService>();
        builder.Services.AddSingleton<StreamSessions>();
        // The instance drivers: the one place they are named.
        builder.Services.AddSingleton<IInstanceDriver>(_ => new ContainerDriver(new ContainerDriverOptions
        {
            RuntimeDir = options.RuntimeDir,
            CgroupParent = options.CgroupParent,
            CgroupBackend = cgroupBackend,
            IdmapBase = options.IdmapBase,
            IdmapSize = DaemonOptions.IdmapSize,
            IdmapRangeSize = options.IdmapRangeSize,
            // HYPERLXD_IDMAPPED_MOUNTS=0: always chown-shift unprivileged roots (tests and the bench exercise that path with it).
            IdmappedMounts = !LxdBool.IsFalse(Environment.GetEnvironmentVariable("HYPERLXD_IDMAPPED_MOUNTS")),
        }));
        // VMs: libvirt's embedded QEMU driver in the state directory (or vms.libvirt.uri), opened once the server config is loaded.
        builder.Services.AddSingleton<IInstanceDriver>(sp => new VmDriver(new VmDriverOptions
        {
            StateDir = options.StateDir,
            ServerConfig = () => sp.GetRequiredService<IServerConfigSource>().Config,
        }));
        builder.Services.AddSingleton<InstanceDrivers>();
        builder.Services.AddSingleton<ILoggerProvider, EventLoggerProvider>();
        builder.Services.AddHostedService<DaemonService>();
        builder.Services.AddHostedService<Hosting.IdleTrim>();
        builder.Services.AddHostedService<Hosting.SnapshotTasks>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMinutes(6));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = null;
            UnixSocket.ClaimPath(options.SocketPath);
            k.ListenUnixSocket(options.SocketPath, lo => lo.Use(UnixHostHeaderFix.Use));
        });

        var app = builder.Build();
        ApiPipeline.Configure(app, app.Services);
        try
        {
            await app.RunAsync();
        }
        catch (Exception e) when (e is InvalidOperationException or IOException)
        {
            throw new CommandException(e.Message);
        }
        return 0;
    }

    /// <summary>HYPERLXD_CGROUP_BACKEND (auto, cgroup1, cgroup2) forces a backend: for tests and the bench; hosts auto-detect.</summary>
    private static CgroupBackendKind CgroupBackendOverride()
    {
        try
        {
            return CgroupBackendKinds.Parse(Environment.GetEnvironmentVariable("HYPERLXD_CGROUP_BACKEND"));
        }
        catch (ArgumentException e)
        {
            throw new CommandException("HYPERLXD_CGROUP_BACKEND: " + e.Message);
        }
    }

    private static async Task PrepareStateDirAsync(DaemonOptions options)
    {
        Directory.CreateDirectory(options.StateDir);
        // 0711: the database user must traverse it, nobody needs to list it.
        File.SetUnixFileMode(options.StateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        await HostAccounts.EnsureAsync(options.SocketGroup, options.DatabaseUser);
    }
}

public sealed class UsageException(string message) : Exception(message);

public sealed class CommandException(string message) : Exception(message);
