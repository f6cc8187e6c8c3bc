using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Networks;
using Hyperlxd.Images;
using Hyperlxd.State;
using Hyperlxd.State.Repositories;
using Hyperlxd.Storage;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Instances;

/// <summary>Where the instance layer keeps per-instance runtime files: <c>StateDir/instances/&lt;name&gt;</c>.</summary>
public sealed record InstanceManagerOptions(string StateDir)
{
    /// <summary>Where hyperlxd-nsexec is (proxy forwarders); default: $HYPERLXD_HELPERS_DIR, else next to the executable.</summary>
    public string? HelpersDir { get; init; }
}

/// <summary>
/// The instance abstraction over both drivers: records and profile expansion, root volumes on
/// pools, per-instance locking, and the calls into the driver. Endpoints stay thin and call here.
/// Partial files: lifecycle (create/start/stop/delete), configuration, snapshots, rendering.
/// </summary>
public sealed partial class InstanceManager(
    StateStore store,
    InstanceDrivers drivers,
    StoragePools pools,
    ImageStore images,
    EventHub events,
    InstanceManagerOptions options,
    ILogger<InstanceManager> logger,
    IProxyForwarders forwarders,
    INetworkHost? networks = null)
{
    /// <summary>The networking layer, or a stand-in refusing nics when the host registered none.</summary>
    private readonly INetworkHost _networks = networks ?? new NoNetworkHost();

    private readonly KeyedLock _locks = new();

    private InstanceRepository Repo => store.Instances;

    private string StateDirOf(string name) => Path.Combine(options.StateDir, "instances", name);

    /// <summary>An instance with its profiles applied: profiles in order, then its own keys on top.</summary>
    public sealed record Expanded(InstanceRecord Record, Dictionary<string, string> Config, Dictionary<string, Dictionary<string, string>> Devices)
    {
        public InstanceType Type => Record.Type;
    }

    /// <summary>Every instance's record (unexpanded), by name.</summary>
    public Task<List<InstanceRecord>> ListAsync(CancellationToken ct) => Repo.ListAsync(ct);

    public async Task<Expanded> LoadAsync(string name, CancellationToken ct)
    {
        var (record, profiles) = await Repo.GetWithProfilesAsync(name, ct);
        return Expand(record, profiles.ToDictionary(p => p.Name));
    }

    public async Task<Expanded> ExpandAsync(InstanceRecord record, CancellationToken ct) =>
        (await ExpandAllAsync(new[] { record }, ct))[0];

    /// <summary>Expands many records with one read of the profiles (lists, start-up).</summary>
    public async Task<List<Expanded>> ExpandAllAsync(IEnumerable<InstanceRecord> records, CancellationToken ct)
    {
        var profiles = (await store.Profiles.ListAsync(ct)).ToDictionary(p => p.Name);
        return records.Select(r => Expand(r, profiles)).ToList();
    }

    private static Expanded Expand(InstanceRecord record, IReadOnlyDictionary<string, Profile> profiles)
    {
        var (config, devices) = ProfileExpansion.Expand(record.Profiles, profiles, record.Config, record.Devices);
        return new Expanded(record, config, devices);
    }

    internal InstanceSpec SpecOf(Expanded e)
    {
        var (_, poolName) = RootDisk.Find(e.Devices);
        var root = pools.Get(poolName).InstanceVolumePath(e.Record.Name, e.Record.Type);
        return new InstanceSpec(e.Record.Name, e.Type, e.Record.Architecture, e.Config, e.Devices, root, StateDirOf(e.Record.Name));
    }

    internal IInstanceDriver DriverOf(Expanded e) => drivers.For(e.Type);

    /// <summary>Validates config, devices and the profile list as a whole (the expanded result must have a root disk on a known pool).</summary>
    private async Task ValidateAsync(InstanceRecord record, CancellationToken ct)
    {
        var type = record.Type;
        InstanceConfig.Validate(record.Config, type);
        DeviceTypes.Validate(record.Devices, type);
        var profiles = (await store.Profiles.ListAsync(ct)).ToDictionary(p => p.Name);
        foreach (var name in record.Profiles)
        {
            if (!profiles.ContainsKey(name))
            {
                throw new BadRequestException($"Profile \"{name}\" not found");
            }
        }
        if (record.Profiles.Distinct().Count() != record.Profiles.Count)
        {
            throw new BadRequestException("A profile is listed more than once");
        }
        CheckOneRootDisk(record, profiles);
        var expanded = Expand(record, profiles);
        // Profiles were checked when written; the expansion is checked too (older rows, and what the spec is built from).
        InstanceConfig.Validate(expanded.Config, type);
        DeviceTypes.Validate(expanded.Devices, type);
        var (_, pool) = RootDisk.Find(expanded.Devices);
        pools.Get(pool);
    }
}
