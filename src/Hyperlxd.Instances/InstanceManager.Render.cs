using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.State.Repositories;

namespace Hyperlxd.Instances;

public sealed partial class InstanceManager
{
    public static (string Status, int Code) StatusOf(InstanceStatus s) => s switch
    {
        InstanceStatus.Running => ("Running", (int)StatusCode.Running),
        InstanceStatus.Frozen => ("Frozen", (int)StatusCode.Frozen),
        InstanceStatus.Error => ("Error", (int)StatusCode.Error),
        _ => ("Stopped", (int)StatusCode.Stopped),
    };

    /// <summary>The driver's view, or Error when the driver cannot answer (unavailable, broken volume).</summary>
    public async Task<RuntimeState> SafeStateAsync(Expanded e, CancellationToken ct)
    {
        try
        {
            return await StateAsync(e, ct);
        }
        catch (Exception ex) when (ex is HyperlxdException or IOException or InvalidOperationException)
        {
            return RuntimeState.Stopped() with { Status = InstanceStatus.Error };
        }
    }

    public async Task<InstanceFull> RenderAsync(Expanded e, bool full, CancellationToken ct)
    {
        var state = await SafeStateAsync(e, ct);
        var (status, code) = StatusOf(state.Status);
        var r = e.Record;
        var instance = new InstanceFull
        {
            // Clients see the name and project, never the storage key (ProjectKeys).
            Name = ProjectKeys.InstanceName(r.Name),
            Project = ProjectKeys.InstanceProject(r.Name),
            Description = r.Description,
            Type = r.Type.ToApi(),
            Architecture = r.Architecture,
            Config = r.Config,
            Devices = r.Devices,
            ExpandedConfig = e.Config,
            ExpandedDevices = e.Devices,
            Profiles = DisplayProfiles(r.Profiles),
            Ephemeral = r.Ephemeral,
            Stateful = r.Stateful,
            CreatedAt = r.CreatedAt,
            LastUsedAt = r.LastUsedAt ?? default,
            Status = status,
            StatusCode = code,
        };
        if (full)
        {
            instance.State = ToApiState(state);
            instance.Snapshots = (await Repo.ListSnapshotsAsync(r.Name, ct)).Select(s => RenderSnapshot(s, e)).ToList();
        }
        return instance;
    }

    public static InstanceState ToApiState(RuntimeState s)
    {
        var (status, code) = StatusOf(s.Status);
        return new InstanceState
        {
            Status = status,
            StatusCode = code,
            Pid = s.Pid,
            Processes = s.Status == InstanceStatus.Stopped ? 0 : s.Processes,
            Cpu = new InstanceStateCpu { Usage = s.CpuNanoseconds },
            Memory = new InstanceStateMemory { Usage = s.MemoryBytes, UsagePeak = s.MemoryPeakBytes },
            Disk = s.DiskUsage.ToDictionary(kv => kv.Key, kv => new InstanceStateDisk { Usage = kv.Value }),
            Network = s.Network.ToDictionary(kv => kv.Key, kv => new InstanceStateNetwork
            {
                Type = kv.Value.Type,
                State = kv.Value.State,
                Hwaddr = kv.Value.HwAddr,
                Mtu = kv.Value.Mtu,
                HostName = kv.Value.HostName,
                Addresses = kv.Value.Addresses.Select(a => new InstanceStateNetworkAddress { Family = a.Family, Address = a.Address, Netmask = a.Netmask, Scope = a.Scope }).ToList(),
                Counters = new InstanceStateNetworkCounters
                {
                    BytesReceived = kv.Value.BytesReceived,
                    BytesSent = kv.Value.BytesSent,
                    PacketsReceived = kv.Value.PacketsReceived,
                    PacketsSent = kv.Value.PacketsSent,
                },
            }),
        };
    }

    public static List<string> DisplayProfiles(List<string> keys) => keys.Select(k => ProjectKeys.SplitScoped(k).Name).ToList();

    public static InstanceSnapshot RenderSnapshot(InstanceRecord s, Expanded parent) => new()
    {
        Name = s.Name,
        Architecture = s.Architecture,
        Config = s.Config,
        Devices = s.Devices,
        ExpandedConfig = parent.Config,
        ExpandedDevices = parent.Devices,
        Profiles = DisplayProfiles(s.Profiles),
        Ephemeral = s.Ephemeral,
        Stateful = s.Stateful,
        CreatedAt = s.CreatedAt,
        ExpiresAt = s.ExpiresAt ?? default,
        LastUsedAt = s.CreatedAt,
    };
}
