using Hyperlxd.Containers.Cgroups;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Containers;

/// <summary>
/// System containers on top of the native helpers: hyperlxd-monitor (one per running container: its
/// parent, console, exit record; survives daemon restarts) and hyperlxd-nsexec attach (exec). The
/// driver keeps no in-memory state about containers: everything is asked of the monitor socket, the
/// state file and the cgroups, so a restarted daemon simply carries on.
/// </summary>
public sealed partial class ContainerDriver : IInstanceDriver
{
    private readonly ContainerDriverOptions _options;
    private readonly ICgroupBackend _cgroups;
    private readonly MigrationPrimer _primer;
    private readonly ExecSpares _spares;
    private readonly string? _cgroupsUnavailable;
    private readonly string _monitor;
    private readonly string _nsexec;

    public ContainerDriver(ContainerDriverOptions? options = null)
    {
        _options = options ?? new ContainerDriverOptions();
        var helpers = _options.HelpersDir
            ?? (Environment.GetEnvironmentVariable("HYPERLXD_HELPERS_DIR") is { Length: > 0 } env ? env : AppContext.BaseDirectory);
        _monitor = Path.Combine(helpers, "hyperlxd-monitor");
        _nsexec = Path.Combine(helpers, "hyperlxd-nsexec");
        (_cgroups, _cgroupsUnavailable) = CgroupDetector.Select(_options.CgroupRoot, _options.CgroupParent, _options.CgroupBackend);
        _primer = new MigrationPrimer(_options.CgroupRoot);
        _spares = new ExecSpares(StartPrepared);
        Info = Probe();
    }

    public InstanceType Type => InstanceType.Container;

    public DriverInfo Info { get; }

    internal ICgroupBackend Cgroups => _cgroups;

    private DriverInfo Probe()
    {
        string? reason = null;
        if (!File.Exists(_monitor) || !File.Exists(_nsexec))
        {
            reason = $"container helpers not found in {Path.GetDirectoryName(_monitor)} (build them with `dotnet cake --target=Native`)";
        }
        else if (Environment.UserName != "root")
        {
            reason = "containers need root";
        }
        else if (_cgroupsUnavailable is not null)
        {
            reason = _cgroupsUnavailable;
        }
        return new DriverInfo("lxc", "hyperlxd-monitor", reason is null, reason);
    }

    internal string SocketPath(string name) => Path.Combine(_options.RuntimeDir, name + ".sock");

    internal string StateFilePath(string name) => Path.Combine(_options.RuntimeDir, name + ".state");

    private static string SpecPath(InstanceSpec spec) => Path.Combine(spec.StateDir, "container.spec");

    private static string LogPath(InstanceSpec spec) => Path.Combine(spec.StateDir, "console.log");

    /// <summary>
    /// Runs a helper to completion; (exit code, stdout, stderr). Detached: a monitor it starts must outlive the
    /// daemon, so the helpers arm no parent-death signal of ours.
    /// </summary>
    private static async Task<(int Code, string Out, string Err)> RunAsync(string file, IEnumerable<string> args, CancellationToken ct)
    {
        var r = await HostCommand.RunUncheckedAsync(file, args, HostCommandOptions.Detached, ct);
        return (r.ExitCode, r.Stdout, r.Stderr);
    }
}
