using System.Diagnostics;
using System.Text.RegularExpressions;
using Hyperlxd.Core.Instances;
using Hyperlxd.Interop.Libvirt;

namespace Hyperlxd.Vms;

/// <summary>
/// Virtual machines: QEMU through libvirt, by default its embedded driver inside the daemon
/// (<c>qemu:///embed?root={state}/libvirt</c>: no libvirtd to install). Each instance is a persistent
/// domain <c>hlx-{name}</c>, defined afresh from the instance's spec at every start. QEMU outlives the
/// daemon; a new daemon opening the same root finds the domains running. Exec and files go through
/// qemu-guest-agent on virtio-serial. The connection and the accelerator are settled at first use
/// (the daemon's start, once its server config is loaded); a host without libvirt or QEMU gets an
/// unavailable driver with the reason, never a failed daemon.
/// </summary>
public sealed partial class VmDriver : IInstanceDriver, IDisposable
{
    private readonly VmDriverOptions _options;
    private readonly Lazy<Runtime> _runtime;

    public VmDriver(VmDriverOptions options)
    {
        _options = options;
        _runtime = new Lazy<Runtime>(Open, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public InstanceType Type => InstanceType.VirtualMachine;

    public DriverInfo Info => _runtime.Value.Info;

    /// <summary>The guest agent runs commands without a terminal and cannot signal them: no interactive exec, signals or resize.</summary>
    public DriverFeatures Features => DriverFeatures.Files | DriverFeatures.Console;

    /// <summary>KVM or TCG, and why; null while the driver is unavailable.</summary>
    public AcceleratorChoice? Accelerator => _runtime.Value.Accelerator;

    /// <summary>The libvirt URI in use (for messages and tests).</summary>
    public string Uri => _runtime.Value.Uri;

    private sealed class Runtime(DriverInfo info, string uri, LibvirtConnection? connection, AcceleratorChoice? accelerator, IDisposable? events)
    {
        public DriverInfo Info => info;
        public string Uri => uri;
        public LibvirtConnection? Connection => connection;
        public AcceleratorChoice? Accelerator => accelerator;
        public IDisposable? Events => events;
    }

    private LibvirtConnection Connection =>
        _runtime.Value.Connection ?? throw new BadRequestException($"Virtual machines are unavailable on this host: {Info.Reason}");

    private string EmbeddedRoot => Path.Combine(_options.StateDir, "libvirt");

    private Runtime Open()
    {
        var config = _options.ServerConfig?.Invoke() ?? new Dictionary<string, string>();
        var uri = _options.Uri ?? (config.GetValueOrDefault(VmDriverOptions.UriKey) is { Length: > 0 } u ? u : $"qemu:///embed?root={EmbeddedRoot}");
        DriverInfo Unavailable(string reason) => new("qemu", "", false, reason);
        if (!Libvirt.TryLoad(out var missing))
        {
            return new Runtime(Unavailable(missing ?? "libvirt cannot be loaded"), uri, null, null, null);
        }
        if (!File.Exists(_options.Qemu))
        {
            return new Runtime(Unavailable($"{_options.Qemu} not found (install qemu-system-x86)"), uri, null, null, null);
        }
        AcceleratorChoice accelerator;
        try
        {
            var mode = _options.Accelerator ?? Vms.Accelerator.Parse(config.GetValueOrDefault(VmDriverOptions.AcceleratorKey));
            accelerator = Vms.Accelerator.DecideAsync(mode, _options.Qemu, Path.Combine(_options.StateDir, "vms"), CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (BadRequestException e)
        {
            return new Runtime(Unavailable(e.Message), uri, null, null, null);
        }
        LibvirtConnection connection;
        try
        {
            if (uri.StartsWith("qemu:///embed", StringComparison.Ordinal))
            {
                PrepareEmbeddedRoot();
            }
#pragma warning disable CA2000 // owned by the runtime from here on; Dispose closes it
            connection = LibvirtConnection.Open(uri);
#pragma warning restore CA2000
        }
        catch (Exception e) when (e is LibvirtException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            return new Runtime(Unavailable($"cannot open {uri}: {e.Message}"), uri, null, accelerator, null);
        }
        IDisposable? events = null;
        try
        {
            events = connection.OnLifecycle((domain, type, _) =>
            {
                if (type is DomainEventType.Stopped or DomainEventType.Crashed or DomainEventType.Shutdown)
                {
                    Wake(domain);
                }
            });
        }
        catch (Exception e) when (e is NotImplementedException or LibvirtException)
        {
            // Without events, waiting for a VM's end polls its state (see WaitStoppedAsync).
        }
        return new Runtime(new DriverInfo("qemu", QemuVersion(), true, null), uri, connection, accelerator, events);
    }

    /// <summary>
    /// The embedded driver's own config: QEMU's console and log files written by QEMU itself (no virtlogd
    /// in the daemon), and the paths libvirt creates below the root.
    /// </summary>
    private void PrepareEmbeddedRoot()
    {
        var etc = Path.Combine(EmbeddedRoot, "etc");
        Directory.CreateDirectory(etc);
        var conf = Path.Combine(etc, "qemu.conf");
        const string Wanted = "# Written by hyperlxd at each start.\nstdio_handler = \"file\"\n";
        if (!File.Exists(conf) || File.ReadAllText(conf) != Wanted)
        {
            File.WriteAllText(conf, Wanted);
        }
    }

    private string QemuVersion()
    {
        try
        {
            var r = HostCommand.RunUncheckedAsync(_options.Qemu, ["--version"], HostCommandOptions.Default with { Timeout = TimeSpan.FromSeconds(10) })
                .GetAwaiter().GetResult();
            return VersionRegex().Match(r.Stdout) is { Success: true } m ? m.Groups[1].Value : "";
        }
        catch (Exception e) when (e is TimeoutException or System.ComponentModel.Win32Exception)
        {
            return "";
        }
    }

    [GeneratedRegex(@"version (\d+\.\d+(?:\.\d+)?)")]
    private static partial Regex VersionRegex();

    internal string DomainName(string instance) => _options.DomainPrefix + instance;

    private LibvirtDomain? Lookup(InstanceSpec spec) => Connection.LookupDomain(DomainName(spec.Name));

    private static string DiskPath(InstanceSpec spec) => Path.Combine(spec.RootPath, "root.img");

    private static string ConsoleLogPath(InstanceSpec spec) => Path.Combine(spec.StateDir, "console.log");

    /// <summary>The instance's log (what LXD calls qemu.log): how it was started, with which accelerator.</summary>
    internal static string InstanceLogPath(InstanceSpec spec) => Path.Combine(spec.StateDir, "qemu.log");

    private static string NvramPath(InstanceSpec spec) => Path.Combine(spec.StateDir, "qemu.nvram");

    /// <summary>Runs a blocking libvirt call off the caller's thread (destroy takes seconds here).</summary>
    private static Task<T> Blocking<T>(Func<T> call) => Task.Run(call, CancellationToken.None);

    private static Task Blocking(Action call) => Task.Run(call, CancellationToken.None);

    private static bool Active(DomainState state) => state is not (DomainState.Shutoff or DomainState.Crashed or DomainState.NoState);

    /// <summary>Time since <paramref name="start"/> (a <see cref="Stopwatch.GetTimestamp"/>).</summary>
    private static TimeSpan Since(long start) => Stopwatch.GetElapsedTime(start);

    public void Dispose()
    {
        if (_runtime.IsValueCreated)
        {
            _runtime.Value.Events?.Dispose();
            _runtime.Value.Connection?.Dispose();
        }
    }
}
