using Hyperlxd.Core;
using Hyperlxd.State.Repositories;

namespace Hyperlxd.Networking;

/// <summary>Create, update, rename, delete: all or nothing, each under the manager's lock.</summary>
public sealed partial class NetworkManager
{
    public async Task<NetworkRecord> CreateAsync(string? name, string? type, string description, Dictionary<string, string> config, CancellationToken ct)
    {
        BridgeConfig.ValidateName(name);
        if (type is { Length: > 0 } and not "bridge")
        {
            throw new BadRequestException($"Network type \"{type}\" is not supported (only \"bridge\")");
        }
        BridgeConfig.Validate(name!, config);
        return await LockedAsync(async () =>
        {
            if (await Repo.FindAsync(name!, ct) is not null)
            {
                throw new ConflictException($"Network \"{name}\" already exists");
            }
            if (Netlink.GetLink(name!) is not null)
            {
                throw new ConflictException($"Network interface \"{name}\" already exists on the host");
            }
            var full = await ResolveAddressesAsync(name!, BridgeConfig.WithDefaults(config), ct);
            var record = new NetworkRecord(name!, "bridge", description, full);
            await using var revert = new Reverter();
            // Undone in reverse: dnsmasq, bridge, files, row, and last the rules rendered without the row.
            revert.Add(() => ApplyFirewallAsync(CancellationToken.None));
            await Repo.CreateAsync(record, ct);
            revert.Add(() => Repo.DeleteAsync(name!, CancellationToken.None));
            var paths = PathsOf(name!);
            Directory.CreateDirectory(paths.Dir);
            revert.Add(() => Directory.Delete(paths.Dir, recursive: true));
            revert.Add(() => Netlink.DeleteLink(name!));
            revert.Add(() => StopDnsmasq(name!));
            await BringUpAsync(record, ct);
            await ApplyFirewallAsync(ct);
            revert.Success();
            return record;
        }, ct);
    }

    /// <summary>Replaces description and config (the endpoint merges a PATCH first) and re-applies the host side live.</summary>
    public async Task<NetworkRecord> UpdateAsync(string name, string description, Dictionary<string, string> config, CancellationToken ct)
    {
        BridgeConfig.Validate(name, config);
        return await LockedAsync(async () =>
        {
            var old = await GetManagedAsync(name, ct);
            // An address that was left out keeps LXD's default meaning on update: none when removed, auto when asked.
            var full = await ResolveAddressesAsync(name, config, ct);
            var record = old with { Description = description, Config = full };
            await using var revert = new Reverter();
            await Repo.UpdateAsync(name, description, full, ct);
            revert.Add(async () =>
            {
                await Repo.UpdateAsync(name, old.Description, old.Config, CancellationToken.None);
                await BringUpAsync(old, CancellationToken.None);
                await ApplyFirewallAsync(CancellationToken.None);
            });
            await BringUpAsync(record, ct);
            await ApplyFirewallAsync(ct);
            revert.Success();
            return record;
        }, ct);
    }

    /// <summary>Renames the network and its bridge; refused (409, naming them) while instances or profiles use it.</summary>
    public async Task RenameAsync(string name, string? newName, CancellationToken ct)
    {
        BridgeConfig.ValidateName(newName);
        await LockedAsync(async () =>
        {
            var n = await GetManagedAsync(name, ct);
            await RefuseInUseAsync(name, "renamed", ct);
            if (await Repo.FindAsync(newName!, ct) is not null || Netlink.GetLink(newName!) is not null)
            {
                throw new ConflictException($"Network \"{newName}\" already exists");
            }
            await using var revert = new Reverter();
            StopDnsmasq(name);
            revert.Add(() => BringUpAsync(n, CancellationToken.None));
            // A link must be down to be renamed.
            Netlink.SetUp(name, up: false);
            Netlink.Rename(name, newName!);
            revert.Add(() =>
            {
                Netlink.SetUp(newName!, up: false);
                Netlink.Rename(newName!, name);
            });
            var (from, to) = (PathsOf(name).Dir, PathsOf(newName!).Dir);
            if (Directory.Exists(to))
            {
                Directory.Delete(to, recursive: true);
            }
            if (Directory.Exists(from))
            {
                Directory.Move(from, to);
                revert.Add(() => Directory.Move(to, from));
            }
            revert.Add(() => ApplyFirewallAsync(CancellationToken.None));
            await Repo.RenameAsync(name, newName!, ct);
            revert.Add(() => Repo.RenameAsync(newName!, name, CancellationToken.None));
            await BringUpAsync(n with { Name = newName! }, ct);
            await ApplyFirewallAsync(ct);
            revert.Success();
        }, ct);
    }

    /// <summary>Deletes the network: dnsmasq, bridge, its rules, files and row. Refused (409) while in use.</summary>
    public Task DeleteAsync(string name, CancellationToken ct) => LockedAsync(async () =>
    {
        var n = await GetManagedAsync(name, ct);
        await RefuseInUseAsync(name, "deleted", ct);
        await Repo.DeleteAsync(name, ct);
        try
        {
            StopDnsmasq(name);
            Netlink.DeleteLink(name);
            await ApplyFirewallAsync(ct);
        }
        catch
        {
            await Repo.CreateAsync(n, CancellationToken.None);
            await BringUpAsync(n, CancellationToken.None);
            throw;
        }
        if (Directory.Exists(PathsOf(name).Dir))
        {
            Directory.Delete(PathsOf(name).Dir, recursive: true);
        }
    }, ct);

    private async Task RefuseInUseAsync(string name, string verb, CancellationToken ct)
    {
        var users = await UsedByAsync(name, ct);
        if (users.Count > 0)
        {
            throw new ConflictException($"Network \"{name}\" is in use and cannot be {verb}: used by {string.Join(", ", users)}");
        }
    }
}
