using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Hyperlxd.Core;
using Hyperlxd.Core.Devices;
using Hyperlxd.Interop.Linux;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Instances.Proxy;

/// <summary>
/// The forwarders of non-NAT proxy devices: one <c>hyperlxd-nsexec proxy</c> per device (native-shims/README.md),
/// started without a parent-death signal so that it outlives a daemon killed with -9, and recorded in
/// <c>StateDir/instances/&lt;instance&gt;/proxy.&lt;device&gt;.pid</c> (pid, then the arguments): a restarted daemon adopts
/// the process whose command line matches. Each one is watched and started again if it dies while wanted;
/// it ends by itself when the instance's init is gone.
/// </summary>
public sealed partial class ProxyForwarders : IProxyForwarders, IDisposable
{
    /// <summary>The forwarder's exit status when a listen address is taken (EADDRINUSE).</summary>
    private const int ExitAddressInUse = 3;

    private const int SigTerm = 15;
    private const int SigKill = 9;

    private readonly string _stateDir;
    private readonly string _nsexec;
    private readonly ILogger<ProxyForwarders> _logger;
    private readonly ConcurrentDictionary<string, Supervised> _running = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _shutdown = new();

    public ProxyForwarders(InstanceManagerOptions options, ILogger<ProxyForwarders> logger)
    {
        _stateDir = options.StateDir;
        var helpers = options.HelpersDir
            ?? (Environment.GetEnvironmentVariable("HYPERLXD_HELPERS_DIR") is { Length: > 0 } env ? env : AppContext.BaseDirectory);
        _nsexec = Path.Combine(helpers, "hyperlxd-nsexec");
        _logger = logger;
    }

    /// <summary>One watched forwarder; <see cref="Stop"/> ends its watch (the process is ended by the caller).</summary>
    private sealed class Supervised(ProxyForward forward, int pid) : IDisposable
    {
        private readonly CancellationTokenSource _cts = new();

        public ProxyForward Forward { get; } = forward;

        public int Pid { get; set; } = pid;

        public Process? Child { get; set; }

        public CancellationToken Token => _cts.Token;

        public void Stop() => _cts.Cancel();

        public void Dispose()
        {
            _cts.Dispose();
            Child?.Dispose();
        }
    }

    private static string Key(string instance, string device) => instance + "/" + device;

    private string PidFile(string instance, string device) => Path.Combine(_stateDir, "instances", instance, $"proxy.{device}.pid");

    private List<string> Args(ProxyForward f)
    {
        var args = new List<string> { "proxy", "--netns", f.Netns, "--listen", f.Listen, "--connect", f.Connect };
        if (f.Uid is { } uid)
        {
            args.AddRange(["--uid", uid.ToString(CultureInfo.InvariantCulture)]);
        }
        if (f.Gid is { } gid)
        {
            args.AddRange(["--gid", gid.ToString(CultureInfo.InvariantCulture)]);
        }
        return args;
    }

    public async Task StartAsync(ProxyForward forward, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            var key = Key(forward.Instance, forward.Device);
            var pidFile = PidFile(forward.Instance, forward.Device);
            if (_running.TryGetValue(key, out var known))
            {
                if (known.Forward == forward && Alive(known.Pid, Args(forward)))
                {
                    return;
                }
            }
            else if (ReadPid(pidFile) is { } pid && Alive(pid, Args(forward)))
            {
                // It outlived the previous daemon with the same arguments: adopted, not doubled.
                Watch(new Supervised(forward, pid));
                _logger.LogInformation("Proxy {Instance}/{Device}: adopted forwarder {Pid}", forward.Instance, forward.Device, pid);
                return;
            }
            // Whatever runs for the device with other arguments (the instance restarted, the config changed) ends first.
            await StopLockedAsync(forward.Instance, forward.Device);
            var child = Spawn(forward);
            var supervised = new Supervised(forward, child.Id) { Child = child };
            try
            {
                WritePid(pidFile, child.Id, forward);
            }
            catch (IOException)
            {
                supervised.Dispose();
                Syscalls.Kill(child.Id, SigKill);
                throw;
            }
            Watch(supervised);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task StopAsync(string instance, string device, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            await StopLockedAsync(instance, device);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task StopLockedAsync(string instance, string device)
    {
        var pidFile = PidFile(instance, device);
        var pid = ReadPid(pidFile);
        if (_running.TryRemove(Key(instance, device), out var supervised))
        {
            supervised.Stop();
            pid ??= supervised.Pid;
        }
        if (pid is { } p && IsForwarder(p))
        {
            Syscalls.Kill(p, SigTerm);
            // It exits at once on SIGTERM; a wedged one is killed rather than waited for.
            for (var i = 0; i < 50 && Running(p); i++)
            {
                await Task.Delay(20);
            }
            if (Running(p))
            {
                Syscalls.Kill(p, SigKill);
            }
        }
        supervised?.Dispose();
        if (File.Exists(pidFile))
        {
            File.Delete(pidFile);
        }
    }

    /// <summary>
    /// Starts the forwarder and waits for its verdict: "ready" on stdout once every listener is bound and
    /// it has entered the instance's namespace; otherwise it exits with the reason on stderr.
    /// </summary>
    private Process Spawn(ProxyForward f)
    {
        var args = Args(f);
        var child = HostCommand.Start(_nsexec, args, HostCommandOptions.Detached, Redirect.Stdout | Redirect.Stderr);
        var ready = child.StandardOutput.ReadLine();
        if (ready == "ready")
        {
            // It has pointed its stdio at /dev/null: our ends of the pipes are of no further use.
            child.StandardOutput.Dispose();
            child.StandardError.Dispose();
            return child;
        }
        var error = child.StandardError.ReadToEnd().Trim();
        child.WaitForExit();
        var code = child.ExitCode;
        child.DisposeWithPipes();
        var message = $"Device \"{f.Device}\": proxy forwarder failed: {(error.Length > 0 ? error : "exit status " + code)}";
        throw code == ExitAddressInUse ? new ConflictException(message) : new BadRequestException(message);
    }

    /// <summary>Watches one forwarder: when it dies while still wanted, it is started again (once its instance is gone, that fails and the watch ends).</summary>
    private void Watch(Supervised s)
    {
        var key = Key(s.Forward.Instance, s.Forward.Device);
        _running[key] = s;
        _ = Task.Run(async () =>
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(s.Token, _shutdown.Token);
            var ct = linked.Token;
            try
            {
                while (!ct.IsCancellationRequested)
                {
                    await WaitGoneAsync(s, ct);
                    await _gate.WaitAsync(ct);
                    try
                    {
                        if (ct.IsCancellationRequested || !_running.TryGetValue(key, out var current) || current != s)
                        {
                            return;
                        }
                        _logger.LogWarning("Proxy {Key}: forwarder {Pid} died; starting it again", key, s.Pid);
                        s.Child?.Dispose();
                        s.Child = null;
                        try
                        {
                            var child = Spawn(s.Forward);
                            s.Child = child;
                            s.Pid = child.Id;
                            WritePid(PidFile(s.Forward.Instance, s.Forward.Device), child.Id, s.Forward);
                        }
                        catch (Exception e) when (e is HyperlxdException or IOException or InvalidOperationException)
                        {
                            _logger.LogWarning("Proxy {Key}: forwarder not restarted: {Error}", key, e.Message);
                            _running.TryRemove(key, out _);
                            s.Dispose();
                            return;
                        }
                    }
                    finally
                    {
                        _gate.Release();
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // stopped, or the daemon is going away (the forwarder keeps running)
            }
        }, CancellationToken.None);
    }

    /// <summary>Our own child: its exit; an adopted one (not our child): polled.</summary>
    private static async Task WaitGoneAsync(Supervised s, CancellationToken ct)
    {
        if (s.Child is { } child)
        {
            await child.WaitForExitAsync(ct);
            return;
        }
        while (Running(s.Pid))
        {
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }

    private static int? ReadPid(string pidFile)
    {
        try
        {
            var first = File.ReadLines(pidFile).FirstOrDefault();
            return int.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0 ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private void WritePid(string pidFile, int pid, ProxyForward f)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(pidFile)!);
        var tmp = pidFile + ".tmp";
        File.WriteAllLines(tmp, [pid.ToString(CultureInfo.InvariantCulture), .. Args(f)]);
        File.Move(tmp, pidFile, overwrite: true);
    }

    /// <summary>The process's argv, or null when it is gone.</summary>
    private static string[]? CommandLine(int pid)
    {
        try
        {
            var raw = File.ReadAllText($"/proc/{pid}/cmdline");
            return raw.Length == 0 ? null : raw.TrimEnd('\0').Split('\0');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Alive and not a zombie.</summary>
    private static bool Running(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..];
            return state.Length > 0 && state[0] is not ('Z' or 'X');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>A hyperlxd-nsexec proxy process (so a recycled pid is never signalled).</summary>
    private static bool IsForwarder(int pid) =>
        CommandLine(pid) is { Length: > 2 } argv && Path.GetFileName(argv[0]) == "hyperlxd-nsexec" && argv[1] == "proxy" && Running(pid);

    private bool Alive(int pid, List<string> args) =>
        IsForwarder(pid) && CommandLine(pid) is { } argv && argv.Skip(1).SequenceEqual(args);

    /// <summary>At daemon stop: the watches end; the forwarders keep running for the next daemon to adopt.</summary>
    public void Dispose()
    {
        _shutdown.Cancel();
        foreach (var s in _running.Values)
        {
            s.Stop();
        }
        _shutdown.Dispose();
        _gate.Dispose();
    }
}
