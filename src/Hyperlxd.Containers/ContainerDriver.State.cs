using Hyperlxd.Containers.Cgroups;
using Hyperlxd.Containers.Monitor;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Containers;

public sealed partial class ContainerDriver
{
    public async Task<RuntimeState> GetStateAsync(InstanceSpec spec, CancellationToken ct)
    {
        var status = await StatusAsync(spec.Name, ct);
        if (status is null || !status.Running)
        {
            return RuntimeState.Stopped(status?.Exit);
        }
        var stats = _cgroups.Stats(spec.Name);
        var state = _cgroups.IsFrozen(spec.Name) ? InstanceStatus.Frozen : InstanceStatus.Running;
        return new RuntimeState(state, status.InitPid, stats.Processes - _spares.Waiting(spec.Name), stats.CpuNanoseconds, stats.MemoryBytes,
            stats.MemoryPeakBytes, Network(spec, status.InitPid), null);
    }

    public async Task<InstanceStatus> GetStatusAsync(InstanceSpec spec, CancellationToken ct) =>
        await StatusAsync(spec.Name, ct) is not { Running: true } ? InstanceStatus.Stopped
        : _cgroups.IsFrozen(spec.Name) ? InstanceStatus.Frozen : InstanceStatus.Running;

    /// <summary>The monitor's answer, else the state file it left (exit recorded), else null (never started).</summary>
    internal async Task<MonitorStatus?> StatusAsync(string name, CancellationToken ct)
    {
        if (await MonitorClient.RequestAsync(SocketPath(name), "status", ct) is { } line)
        {
            return MonitorStatus.Parse(line, DateTimeOffset.UtcNow);
        }
        var file = StateFilePath(name);
        try
        {
            return MonitorStatus.Parse(await File.ReadAllTextAsync(file, ct), File.GetLastWriteTimeUtc(file));
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// Limits apply live to the cgroups; <c>environment.*</c>, <c>user.*</c>, <c>boot.*</c> and the like need
    /// nothing now. Keys that shape the container itself (<c>security.*</c>) refuse to change while it runs.
    /// </summary>
    public async Task ApplyConfigAsync(InstanceSpec spec, IReadOnlyDictionary<string, string> changed, CancellationToken ct)
    {
        if (!await IsRunningAsync(spec.Name, ct))
        {
            // Applied at the next start; a changed limit this host's cgroups cannot enforce is refused now.
            var limits = CgroupLimits.From(spec.Config);
            _cgroups.CheckLimits(limits with { Needs = limits.Needs.Where(n => changed.ContainsKey(n.Key)).ToList() });
            return;
        }
        foreach (var key in changed.Keys)
        {
            if (key is "security.privileged" or "security.nesting" or "security.idmap.isolated" or "security.idmap.size" or "security.idmap.base"
                || key.StartsWith("raw.", StringComparison.Ordinal))
            {
                throw new BadRequestException($"Config key \"{key}\" cannot be changed on a running instance");
            }
        }
        if (changed.Keys.Any(CgroupLimits.LiveKeys.Contains))
        {
            _cgroups.Apply(spec.Name, CgroupLimits.From(spec.Config));
        }
    }
}
