using System.Diagnostics;
using System.Globalization;
using Hyperlxd.Interop.Linux;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Networking;

/// <summary>Where one network's files live: $HYPERLXD_DIR/networks/&lt;name&gt;/.</summary>
public sealed record NetworkPaths(string Dir)
{
    public string PidFile => Path.Combine(Dir, "dnsmasq.pid");
    public string LeaseFile => Path.Combine(Dir, "dnsmasq.leases");
    public string HostsDir => Path.Combine(Dir, "dnsmasq.hosts");
    public string LogFile => Path.Combine(Dir, "dnsmasq.log");
}

/// <summary>
/// One network's dnsmasq: DHCP and DNS on the bridge's gateway addresses only, no upstream (never
/// <c>--no-resolv</c>-less), static identities from a hosts directory it re-reads by itself. Kept in
/// the foreground as the daemon's child, but without a parent-death signal: a daemon restart adopts it.
/// </summary>
public sealed class Dnsmasq : IDisposable
{
    private readonly NetworkNamespace _netns;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly object _gate = new();
    private Process? _child;
    private int _pid;
    private Task? _supervisor;

    private Dnsmasq(NetworkNamespace netns, string bridge, NetworkPaths paths, IReadOnlyList<string> args, ILogger logger)
    {
        _netns = netns;
        Bridge = bridge;
        Paths = paths;
        Args = args;
        _logger = logger;
    }

    public string Bridge { get; }
    public NetworkPaths Paths { get; }
    public IReadOnlyList<string> Args { get; }
    public int Pid => _pid;

    /// <summary>dnsmasq's arguments for a bridge (null when it needs none: no IPv4/IPv6 address).</summary>
    public static List<string>? BuildArgs(string bridge, BridgeConfig cfg, NetworkPaths paths)
    {
        var v4 = cfg.IPv4;
        var v6 = cfg.IPv6;
        if (v4 is null && v6 is null)
        {
            return null;
        }
        var args = new List<string>
        {
            "--keep-in-foreground", "--no-resolv", "--no-hosts", "--strict-order", "--bind-interfaces", "--except-interface=lo",
            "--interface=" + bridge, "--conf-file=/dev/null", "--pid-file=" + paths.PidFile, "--log-facility=" + paths.LogFile,
            "--dhcp-leasefile=" + paths.LeaseFile, "--dhcp-hostsdir=" + paths.HostsDir, "--dhcp-authoritative", "--dhcp-no-override",
            // root: the state dir (0711) and test dirs (0700) stay closed to other users; it binds only the gateway.
            "--user=root",
        };
        if (v4 is { } a)
        {
            args.Add("--listen-address=" + a.Gateway);
            if (cfg.IPv4Dhcp)
            {
                foreach (var (start, end) in cfg.DhcpRanges ?? [])
                {
                    args.Add(string.Create(CultureInfo.InvariantCulture, $"--dhcp-range={start},{end},{Subnets.Netmask(a.Network.PrefixLength, a.Gateway.AddressFamily)},1h"));
                }
                args.Add(string.Create(CultureInfo.InvariantCulture, $"--dhcp-option-force=26,{cfg.Mtu}"));
            }
        }
        if (v6 is { } b)
        {
            args.Add("--listen-address=" + b.Gateway);
            args.Add("--enable-ra");
            args.Add(cfg.IPv6Dhcp ? $"--dhcp-range=::,constructor:{bridge},ra-stateless,ra-names" : $"--dhcp-range=::,constructor:{bridge},ra-only");
        }
        if (cfg.DnsMode != "none")
        {
            args.Add("--domain=" + cfg.DnsDomain);
            args.Add($"--local=/{cfg.DnsDomain}/");
        }
        else
        {
            args.Add("--port=0");
        }
        return args;
    }

    /// <summary>
    /// Adopts the dnsmasq the pid file names when it runs with exactly these arguments (a daemon
    /// restart), else stops whatever that was and starts a new one; then supervises it.
    /// </summary>
    public static async Task<Dnsmasq> StartAsync(NetworkNamespace netns, string bridge, NetworkPaths paths, IReadOnlyList<string> args, ILogger logger, CancellationToken ct)
    {
        Directory.CreateDirectory(paths.HostsDir);
        File.SetUnixFileMode(paths.HostsDir, (UnixFileMode)0b111_101_101);
        var d = new Dnsmasq(netns, bridge, paths, args, logger);
        try
        {
            if (RunningPid(paths, args) is { } pid)
            {
                d._pid = pid;
                logger.LogInformation("Adopted dnsmasq {Pid} of bridge {Bridge}", pid, bridge);
            }
            else
            {
                KillStale(paths);
                await d.SpawnAsync(ct);
            }
            d._supervisor = Task.Run(d.SuperviseAsync, CancellationToken.None);
            return d;
        }
        catch
        {
            d.Dispose();
            throw;
        }
    }

    /// <summary>The pid of a dnsmasq started with <paramref name="args"/> for these paths, if one runs.</summary>
    internal static int? RunningPid(NetworkPaths paths, IReadOnlyList<string> args)
    {
        if (ReadPid(paths) is not { } pid || CommandLine(pid) is not { } argv)
        {
            return null;
        }
        return argv.Count > 0 && Path.GetFileName(argv[0]) == "dnsmasq" && argv.Skip(1).SequenceEqual(args) ? pid : null;
    }

    private static int? ReadPid(NetworkPaths paths)
    {
        try
        {
            return int.TryParse(File.ReadAllText(paths.PidFile).Trim(), out var pid) && pid > 0 ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static List<string>? CommandLine(int pid)
    {
        try
        {
            var raw = File.ReadAllText($"/proc/{pid}/cmdline");
            return raw.Length == 0 ? null : raw.TrimEnd('\0').Split('\0').ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>A dnsmasq of this network with other (older) arguments: stopped before a new one binds.</summary>
    private static void KillStale(NetworkPaths paths)
    {
        if (ReadPid(paths) is { } pid && CommandLine(pid) is { } argv && Path.GetFileName(argv[0]) == "dnsmasq"
            && argv.Contains("--pid-file=" + paths.PidFile))
        {
            Syscalls.Kill(pid, 9);
            WaitGone(pid);
        }
        File.Delete(paths.PidFile);
    }

    private static void WaitGone(int pid)
    {
        for (var i = 0; i < 200 && File.Exists($"/proc/{pid}/cmdline") && CommandLine(pid) is not null; i++)
        {
            Thread.Sleep(10);
        }
    }

    /// <summary>Starts dnsmasq and waits until it has bound its sockets (it writes the pid file after that) or has failed.</summary>
    private async Task SpawnAsync(CancellationToken ct)
    {
        File.Delete(Paths.PidFile);
        var p = _netns.StartDetached("dnsmasq", Args);
        var stderr = p.StandardError.ReadToEndAsync(CancellationToken.None);
        _ = p.StandardOutput.ReadToEndAsync(CancellationToken.None);
        p.StandardInput.Close();
        // dnsmasq binds in well under a second; one that neither binds nor fails in 30 s is broken.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (DateTime.UtcNow > deadline && !p.HasExited)
            {
                HostCommand.Kill(p);
                await p.WaitForExitAsync(CancellationToken.None);
            }
            if (p.HasExited)
            {
                var error = (await stderr).Trim();
                p.DisposeWithPipes();
                throw new Core.BadRequestException($"Failed to start dnsmasq for network bridge \"{Bridge}\": {(error.Length > 0 ? error : "exit code " + p.ExitCode.ToString(CultureInfo.InvariantCulture))}");
            }
            if (ReadPid(Paths) == p.Id)
            {
                break;
            }
            await Task.Delay(5, ct);
        }
        lock (_gate)
        {
            _child = p;
            _pid = p.Id;
        }
    }

    /// <summary>Restarts dnsmasq whenever it dies, until <see cref="Stop"/> or <see cref="Dispose"/>.</summary>
    private async Task SuperviseAsync()
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                Process? child;
                lock (_gate)
                {
                    child = _child;
                }
                if (child is not null)
                {
                    await child.WaitForExitAsync(ct);
                }
                else
                {
                    while (CommandLine(_pid) is not null)
                    {
                        await Task.Delay(500, ct);
                    }
                }
                if (ct.IsCancellationRequested)
                {
                    return;
                }
                _logger.LogWarning("dnsmasq of bridge {Bridge} (pid {Pid}) died: restarting it", Bridge, _pid);
                lock (_gate)
                {
                    _child?.DisposeWithPipes();
                    _child = null;
                }
                await SpawnAsync(ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e)
            {
                _logger.LogError("Restarting dnsmasq of bridge {Bridge} failed: {Error}", Bridge, e.Message);
                try
                {
                    await Task.Delay(1000, ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Kills dnsmasq (network deleted or reconfigured) and stops supervising it.</summary>
    public void Kill()
    {
        _stop.Cancel();
        var pid = _pid;
        if (pid > 0 && CommandLine(pid) is { } argv && argv.Contains("--pid-file=" + Paths.PidFile))
        {
            Syscalls.Kill(pid, 9);
            lock (_gate)
            {
                _child?.WaitForExit();
            }
            WaitGone(pid);
        }
        File.Delete(Paths.PidFile);
    }

    /// <summary>Stops supervising and leaves dnsmasq running (daemon shutdown: instances keep DHCP and DNS).</summary>
    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _supervisor?.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        lock (_gate)
        {
            _child?.DisposeWithPipes();
            _child?.Dispose(); // already disposed with its pipes: this names the ownership for the analyzers
            _child = null;
        }
        _stop.Dispose();
    }
}
