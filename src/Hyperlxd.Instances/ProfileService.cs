using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Events;
using Hyperlxd.State;

namespace Hyperlxd.Instances;

/// <summary>
/// Profiles: CRUD, rename and PUT/PATCH. A change is validated, then applied to every instance that
/// uses the profile (through the instance manager), and written back as it was when they refuse it.
/// The <c>default</c> profile always exists.
/// </summary>
public sealed class ProfileService(StateStore store, InstanceManager instances, EventHub events)
{
    public const string Default = "default";

    public static string Url(string name) => ProjectKeys.ProfileUrl(name);

    public static string ETagOf(Profile p) =>
        Core.Query.ETag.Compute(new ProfilePut { Description = p.Description, Config = p.Config, Devices = p.Devices }, ApiJsonContext.Default.ProfilePut);

    /// <summary>Every profile with its <c>used_by</c> (one read of the instances for the whole collection).</summary>
    public async Task<List<Profile>> ListAsync(CancellationToken ct) =>
        await WithUsedByAsync(await store.Profiles.ListAsync(ct), ct);

    /// <summary>One profile (404 when there is none); <paramref name="usedBy"/>: with its <c>used_by</c>.</summary>
    public async Task<Profile> GetAsync(string name, CancellationToken ct, bool usedBy = true)
    {
        var profile = await store.Profiles.GetAsync(name, ct);
        return usedBy ? (await WithUsedByAsync(new List<Profile> { profile }, ct))[0] : profile;
    }

    /// <summary>The profile names (the default project's <c>used_by</c>).</summary>
    public async Task<List<string>> NamesAsync(CancellationToken ct) =>
        (await store.Profiles.ListAsync(ct)).Select(p => p.Name).ToList();

    public async Task CreateAsync(ProfilesPost req, EventLifecycleRequestor? requestor, CancellationToken ct)
    {
        Names.ValidateEntityName("profile", req.Name is null ? null : ProjectKeys.SplitScoped(req.Name).Name);
        var profile = new Profile
        {
            Name = req.Name!,
            Description = req.Description ?? "",
            Config = ConfigPatch.Set(req.Config),
            Devices = req.Devices ?? new(),
        };
        Validate(profile.Config, profile.Devices);
        await store.Profiles.CreateAsync(profile, ct);
        Lifecycle("profile-created", profile.Name, requestor);
    }

    /// <summary>PUT replaces the writable fields; PATCH merges config keys and devices into what is there.</summary>
    public async Task UpdateAsync(string name, ProfilePut req, bool patch, Action<Profile> checkETag, EventLifecycleRequestor? requestor, CancellationToken ct)
    {
        var before = await store.Profiles.GetAsync(name, ct);
        await store.Profiles.UpdateAsync(name, p =>
        {
            checkETag(p);
            p.Config = ConfigPatch.Config(p.Config, req.Config, patch);
            p.Devices = ConfigPatch.Devices(p.Devices, req.Devices, patch);
            p.Description = req.Description ?? (patch ? p.Description : "");
            Validate(p.Config, p.Devices);
        }, ct);
        try
        {
            await instances.ApplyProfileChangeAsync(before, ct);
        }
        catch
        {
            // The instances refused the change: the profile goes back to what it was.
            await store.Profiles.UpdateAsync(before.Name, p =>
            {
                p.Config = before.Config;
                p.Devices = before.Devices;
                p.Description = before.Description;
            }, CancellationToken.None);
            throw;
        }
        Lifecycle("profile-updated", name, requestor);
    }

    public async Task RenameAsync(string name, string? newName, EventLifecycleRequestor? requestor, CancellationToken ct)
    {
        if (ProjectKeys.SplitScoped(name).Name == Default)
        {
            throw new ForbiddenException("The \"default\" profile cannot be renamed");
        }
        // Keys of another project's profiles are "project/name" (ProjectKeys): the name part is the user's.
        Names.ValidateEntityName("profile", newName is null ? null : ProjectKeys.SplitScoped(newName).Name);
        await store.Profiles.RenameAsync(name, newName!, ct);
        Lifecycle("profile-renamed", newName!, requestor, new() { ["old_name"] = name });
    }

    public async Task DeleteAsync(string name, EventLifecycleRequestor? requestor, CancellationToken ct)
    {
        if (ProjectKeys.SplitScoped(name).Name == Default)
        {
            throw new ForbiddenException("The \"default\" profile cannot be deleted");
        }
        var users = await store.Instances.UsingProfileAsync(name, ct);
        if (users.Count > 0)
        {
            throw new ConflictException($"Profile is currently in use by: {string.Join(", ", users.Select(ProjectKeys.InstanceUrl))}");
        }
        await store.Profiles.DeleteAsync(name, ct);
        Lifecycle("profile-deleted", name, requestor);
    }

    private static void Validate(Dictionary<string, string> config, Dictionary<string, Dictionary<string, string>> devices)
    {
        InstanceConfig.Validate(config, isProfile: true);
        DeviceTypes.Validate(devices);
    }

    private async Task<List<Profile>> WithUsedByAsync(List<Profile> profiles, CancellationToken ct)
    {
        var all = await store.Instances.ListAsync(ct);
        foreach (var p in profiles)
        {
            p.UsedBy = all.Where(i => i.Profiles.Contains(p.Name)).Select(i => InstanceManager.Url(i.Name)).ToList();
        }
        return profiles;
    }

    private void Lifecycle(string action, string name, EventLifecycleRequestor? requestor, Dictionary<string, object?>? context = null) =>
        events.PublishLifecycle(action, Url(name), context, requestor);
}
