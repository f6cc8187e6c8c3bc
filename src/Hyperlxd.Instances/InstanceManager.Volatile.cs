using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Instances;

/// <summary>
/// The <c>volatile.*</c> keys drivers decide: the plan (a container's id map, allocated against every
/// other instance) and what the root volume holds (the map its files are shifted to).
/// </summary>
public sealed partial class InstanceManager
{
    /// <summary>
    /// One plan at a time, each recorded before the lock is released: two isolated containers never get
    /// the same id range, however many creates and updates run at once. Taken after an instance's lock.
    /// </summary>
    private readonly KeyedLock _planning = new();

    private Task<IDisposable> PlanningLockAsync(CancellationToken ct) => _planning.AcquireAsync("", ct);

    private static readonly Func<CancellationToken, Task<IReadOnlyList<IReadOnlyDictionary<string, string>>>> NoOthers =
        _ => Task.FromResult<IReadOnlyList<IReadOnlyDictionary<string, string>>>([]);

    /// <summary>The driver of <paramref name="type"/>, available or not: planning is arithmetic on config.</summary>
    private IInstanceDriver? PlannerOf(InstanceType type) => drivers.All.FirstOrDefault(d => d.Type == type);

    /// <summary>Checks the keys a plan rests on (a bad <c>raw.idmap</c>, size or base is a 400 naming the key) without allocating.</summary>
    private async Task CheckPlanAsync(Expanded e, CancellationToken ct)
    {
        if (PlannerOf(e.Type) is { } driver)
        {
            await driver.PlanVolatileAsync(e.Config, NoOthers, ct);
        }
    }

    /// <summary>
    /// The driver's plan for <paramref name="e"/>, only the keys that differ from its record. Call it with
    /// the planning lock held and record the result before releasing the lock.
    /// </summary>
    private async Task<Dictionary<string, string>> PlanAsync(Expanded e, CancellationToken ct)
    {
        if (PlannerOf(e.Type) is not { } driver)
        {
            return new();
        }
        var planned = await driver.PlanVolatileAsync(e.Config, async token =>
            (await ExpandAllAsync(await Repo.ListAsync(token), token))
                .Where(o => o.Type == e.Type && o.Record.Name != e.Record.Name)
                .Select(o => (IReadOnlyDictionary<string, string>)o.Config)
                .ToList(), ct);
        return Changed(e, planned);
    }

    /// <summary>The keys whose value differs from the record's.</summary>
    private static Dictionary<string, string> Changed(Expanded e, IReadOnlyDictionary<string, string> keys) =>
        keys.Where(kv => e.Record.Config.GetValueOrDefault(kv.Key) != kv.Value).ToDictionary();

    /// <summary>Records changed volatile keys and mirrors them into <paramref name="e"/>.</summary>
    private async Task RecordAsync(Expanded e, Dictionary<string, string> changed, CancellationToken ct)
    {
        if (changed.Count == 0)
        {
            return;
        }
        await SetVolatileAsync(e.Record.Name, changed, ct);
        foreach (var (k, v) in changed)
        {
            e.Record.Config[k] = v;
            e.Config[k] = v;
        }
    }

    /// <summary>
    /// Plans an existing instance again (a profile changed, a snapshot was restored) and records the
    /// changed keys; returns their previous values ("" = unset), for undo.
    /// The caller holds the instance's lock.
    /// </summary>
    private async Task<Dictionary<string, string>> ReplanAsync(string name, CancellationToken ct)
    {
        using var _ = await PlanningLockAsync(ct);
        var e = await LoadAsync(name, ct);
        var changed = await PlanAsync(e, ct);
        var previous = changed.ToDictionary(kv => kv.Key, kv => e.Record.Config.GetValueOrDefault(kv.Key, ""));
        await RecordAsync(e, changed, ct);
        return previous;
    }

    /// <summary>
    /// Every instance at daemon start, from one read of them all: records made before a key was planned
    /// (or by an older daemon) get their plan. The planning lock is held throughout (instance locks are
    /// not taken: they come before it), so a concurrent update waits and plans after.
    /// </summary>
    private async Task ReplanAllAsync(CancellationToken ct)
    {
        using var _ = await PlanningLockAsync(ct);
        var all = await ExpandAllAsync(await Repo.ListAsync(ct), ct);
        foreach (var e in all)
        {
            try
            {
                if (PlannerOf(e.Type) is not { } driver)
                {
                    continue;
                }
                IReadOnlyList<IReadOnlyDictionary<string, string>> others =
                    all.Where(o => o.Type == e.Type && !ReferenceEquals(o, e)).Select(o => (IReadOnlyDictionary<string, string>)o.Config).ToList();
                var changed = Changed(e, await driver.PlanVolatileAsync(e.Config, _ => Task.FromResult(others), ct));
                if (changed.Count == 0)
                {
                    continue;
                }
                await RecordAsync(e, changed, ct);
                logger.LogInformation("Instance {Name}: planned {Keys} again", e.Record.Name, string.Join(", ", changed.Keys));
            }
            catch (Exception ex) when (ex is HyperlxdException or IOException or InvalidOperationException)
            {
                logger.LogError("Instance {Name} cannot be planned: {Error}", e.Record.Name, ex.Message);
            }
        }
    }

    /// <summary>
    /// Readies the root volume for the planned keys (e.g. shifts its files to a changed id map) and
    /// records what the driver reports, in the record and in <paramref name="e"/>. The caller holds the
    /// instance's lock.
    /// </summary>
    private async Task PrepareRootAsync(Expanded e, CancellationToken ct)
    {
        await RecordAsync(e, Changed(e, await DriverOf(e).PrepareAsync(SpecOf(e), ct)), ct);
    }

    /// <summary>Sets (or, with "", removes) volatile keys of a record.</summary>
    private Task SetVolatileAsync(string name, IReadOnlyDictionary<string, string> keys, CancellationToken ct) =>
        Repo.UpdateAsync(name, r =>
        {
            foreach (var (k, v) in keys)
            {
                if (v.Length == 0)
                {
                    r.Config.Remove(k);
                }
                else
                {
                    r.Config[k] = v;
                }
            }
            return Task.CompletedTask;
        }, ct);
}
