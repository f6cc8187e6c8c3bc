using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Query;
using Hyperlxd.State.Repositories;

namespace Hyperlxd.Instances;

public sealed partial class InstanceManager
{
    public static string ETagOf(InstanceRecord r) => ETag.Compute(new InstancePut
    {
        Architecture = r.Architecture,
        Config = r.Config,
        Devices = r.Devices,
        Ephemeral = r.Ephemeral,
        Profiles = r.Profiles,
        Description = r.Description,
    }, ApiJsonContext.Default.InstancePut);

    /// <summary>
    /// PUT replaces the writable fields, PATCH merges config keys and devices. <c>volatile.*</c>
    /// keys are the server's: they are kept whatever the request says (clients echo them back).
    /// On a running instance nics and proxies are hot-plugged and changed limits applied live first, all
    /// undone if a later step or the write fails.
    /// </summary>
    public async Task UpdateAsync(string name, InstancePut req, bool patch, Action<InstanceRecord> checkETag, CancellationToken ct)
    {
        using var _ = await _locks.AcquireAsync(name, ct);
        var old = await LoadAsync(name, ct);
        checkETag(old.Record);
        var next = Clone(old.Record);
        next.Config = ConfigPatch.Config(next.Config, req.Config, patch);
        next.Devices = ConfigPatch.Devices(next.Devices, req.Devices, patch);
        foreach (var key in next.Config.Keys.Where(k => k.StartsWith("volatile.", StringComparison.Ordinal)).ToList())
        {
            next.Config.Remove(key);
        }
        foreach (var (k, v) in old.Record.Config.Where(kv => kv.Key.StartsWith("volatile.", StringComparison.Ordinal)))
        {
            next.Config[k] = v;
        }
        next.Profiles = req.Profiles ?? next.Profiles;
        next.Description = req.Description ?? (patch ? next.Description : "");
        next.Ephemeral = req.Ephemeral ?? next.Ephemeral;
        if (!string.IsNullOrEmpty(req.Architecture) && req.Architecture != old.Record.Architecture)
        {
            throw new BadRequestException("The architecture of an instance cannot be changed");
        }
        await ValidateAsync(next, ct);

        var updated = await ExpandAsync(next, ct);
        if (RootDisk.Find(updated.Devices).Pool != RootDisk.Find(old.Devices).Pool)
        {
            throw new BadRequestException("The root disk's pool cannot be changed (moving instances between pools is not supported)");
        }
        await CheckDevicesAsync(updated, ct); // a nic on a missing network, a taken address: this request's 4xx
        foreach (var gone in old.Devices.Where(d => !updated.Devices.ContainsKey(d.Key) && DeviceTypes.Of(d.Value) is NicDevice).Select(d => $"volatile.{d.Key}."))
        {
            // A nic gone from the config takes its generated MAC with it (LXD): re-adding one makes a new one.
            foreach (var key in next.Config.Keys.Where(k => k.StartsWith(gone, StringComparison.Ordinal)).ToList())
            {
                next.Config.Remove(key);
            }
        }
        var driver = DriverOf(old);
        var spec = SpecOf(old);
        // The id map follows the config (volatile.idmap.next); the disk follows at the next start.
        using var planning = await PlanningLockAsync(ct);
        foreach (var (k, v) in await PlanAsync(updated, ct))
        {
            next.Config[k] = v;
        }
        await using var revert = new Reverter();
        if ((await driver.GetStateAsync(spec, ct)).Status != InstanceStatus.Stopped)
        {
            // Nics and proxies are plugged in and out now (their volatile keys land in next.Config, written below).
            await HotplugAsync(old, updated, revert, ct);
            var changed = Diff(old.Config, updated.Config);
            if (changed.Count > 0)
            {
                // The driver reads the limits from the spec it is given: the new config, and the old one to undo.
                await driver.ApplyConfigAsync(SpecOf(updated), changed, ct);
                var undo = Diff(updated.Config, old.Config);
                revert.Add(() => driver.ApplyConfigAsync(spec, undo, CancellationToken.None));
            }
        }
        await ApplyRootSizeAsync(old, updated, revert, ct);
        await Repo.UpdateAsync(name, r =>
        {
            r.Config = next.Config;
            r.Devices = next.Devices;
            r.Profiles = next.Profiles;
            r.Description = next.Description;
            r.Ephemeral = next.Ephemeral;
            return Task.CompletedTask;
        }, ct);
        revert.Success();
        Lifecycle("instance-updated", name);
    }

    /// <summary>Keys whose value differs; a removed key maps to "" (back to the default).</summary>
    private static Dictionary<string, string> Diff(IReadOnlyDictionary<string, string> from, IReadOnlyDictionary<string, string> to)
    {
        var changed = new Dictionary<string, string>();
        foreach (var (k, v) in to)
        {
            if (!from.TryGetValue(k, out var old) || old != v)
            {
                changed[k] = v;
            }
        }
        foreach (var k in from.Keys.Where(k => !to.ContainsKey(k)))
        {
            changed[k] = "";
        }
        return changed.Where(kv => !kv.Key.StartsWith("volatile.", StringComparison.Ordinal)).ToDictionary();
    }

    /// <summary>
    /// A changed root disk <c>size</c> goes to the volume at once, running or not (LXD resizes a
    /// container's root live); undone with the rest when a later step fails.
    /// </summary>
    private async Task ApplyRootSizeAsync(Expanded old, Expanded updated, Reverter revert, CancellationToken ct)
    {
        var (before, after) = (RootDisk.Size(old.Devices), RootDisk.Size(updated.Devices));
        if (before == after)
        {
            return;
        }
        var pool = pools.Get(RootDisk.Find(updated.Devices).Pool);
        var (name, type) = (old.Record.Name, old.Record.Type);
        await pool.SetInstanceVolumeSizeAsync(name, type, after, ct);
        revert.Add(() => pool.SetInstanceVolumeSizeAsync(name, type, before, CancellationToken.None));
    }

    private static Dictionary<string, Dictionary<string, string>> WithoutRootSize(Dictionary<string, Dictionary<string, string>> devices)
    {
        var copy = devices.ToDictionary(kv => kv.Key, kv => new Dictionary<string, string>(kv.Value));
        copy[RootDisk.Find(devices).Device].Remove("size");
        return copy;
    }

    private static bool SameDevices(Dictionary<string, Dictionary<string, string>> a, Dictionary<string, Dictionary<string, string>> b) =>
        a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var other) && kv.Value.Count == other.Count && !kv.Value.Except(other).Any());

    private static InstanceRecord Clone(InstanceRecord r) => new()
    {
        Name = r.Name,
        Type = r.Type,
        Architecture = r.Architecture,
        Description = r.Description,
        Config = new Dictionary<string, string>(r.Config),
        Devices = r.Devices.ToDictionary(kv => kv.Key, kv => new Dictionary<string, string>(kv.Value)),
        Profiles = new List<string>(r.Profiles),
        Ephemeral = r.Ephemeral,
        Stateful = r.Stateful,
        CreatedAt = r.CreatedAt,
        LastUsedAt = r.LastUsedAt,
    };

    /// <summary>
    /// After a profile changed (<paramref name="before"/> is its old content), brings every
    /// instance that uses it in line, as LXD does: each expansion must still have its root disk on
    /// the same pool, its devices pass the host checks, and running instances get changed limits
    /// applied live and nics and proxies plugged in or out. Any failure undoes
    /// what was applied and throws, so that the caller can put the old profile back.
    /// </summary>
    public async Task ApplyProfileChangeAsync(Profile before, CancellationToken ct)
    {
        var now = (await store.Profiles.ListAsync(ct)).ToDictionary(p => p.Name);
        var then = new Dictionary<string, Profile>(now) { [before.Name] = before };
        await using var revert = new Reverter();
        foreach (var name in await Repo.UsingProfileAsync(before.Name, ct))
        {
            using var _ = await _locks.AcquireAsync(name, ct);
            var record = await Repo.GetAsync(name, ct);
            var old = Expand(record, then);
            CheckOneRootDisk(record, now);
            var updated = Expand(record, now);
            string newPool;
            try
            {
                newPool = RootDisk.Find(updated.Devices).Pool;
            }
            catch (BadRequestException)
            {
                throw new BadRequestException($"The change would leave instance \"{name}\" without a root disk");
            }
            if (newPool != RootDisk.Find(old.Devices).Pool)
            {
                throw new BadRequestException($"The change would move the root disk of instance \"{name}\" to another pool");
            }
            if (!SameDevices(old.Devices, updated.Devices))
            {
                await CheckDevicesAsync(updated, ct);
            }
            await ApplyRootSizeAsync(old, updated, revert, ct);
            var driver = DriverOf(old);
            if ((await driver.GetStateAsync(SpecOf(old), ct)).Status == InstanceStatus.Stopped)
            {
                // Its id map follows the profile (applied to the disk at the next start).
                var previous = await ReplanAsync(name, ct);
                if (previous.Count > 0)
                {
                    revert.Add(() => SetVolatileAsync(name, previous, CancellationToken.None));
                }
                continue;
            }
            var recorded = new Dictionary<string, string>(record.Config);
            var plugged = await HotplugAsync(old, updated, revert, ct);
            if (plugged.Count > 0)
            {
                await SetVolatileAsync(name, plugged, ct);
                var previous = plugged.ToDictionary(kv => kv.Key, kv => recorded.GetValueOrDefault(kv.Key, ""));
                revert.Add(() => SetVolatileAsync(name, previous, CancellationToken.None));
            }
            var changed = Diff(old.Config, updated.Config);
            if (changed.Count > 0)
            {
                await driver.ApplyConfigAsync(SpecOf(updated), changed, ct);
                var undo = Diff(updated.Config, old.Config);
                revert.Add(() => driver.ApplyConfigAsync(SpecOf(old), undo, CancellationToken.None));
            }
        }
        revert.Success();
    }
}
