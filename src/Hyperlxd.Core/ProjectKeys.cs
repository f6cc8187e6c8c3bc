namespace Hyperlxd.Core;

/// <summary>
/// Maps (project, name) to the keys entities are stored under, so that every layer below HTTP keeps
/// working with one string per entity. The default project keeps bare names (data from before projects
/// is untouched). Other projects' instances are stored as <c>project_name</c>, as LXD names them on
/// disk: instance and project names cannot contain '_', so the split is unambiguous. Profiles of a
/// project with <c>features.profiles</c> are <c>project/name</c>, image aliases of a project with
/// <c>features.images</c> <c>project/alias</c>, custom volumes of a project with <c>features.storage.volumes</c>
/// <c>project/volume</c> ('/' is refused in project, profile and volume names).
/// Whatever leaves the daemon shows the user-facing name and <c>?project=</c>, never the key.
/// </summary>
public static class ProjectKeys
{
    public const string Default = "default";

    public static string Instance(string project, string name) => project == Default ? name : project + "_" + name;

    /// <summary>(project, name) of an instance key; a snapshot key ("c1/snap0") keeps its suffix in name.</summary>
    public static (string Project, string Name) SplitInstance(string key)
    {
        var slash = key.IndexOf('/');
        var us = key.IndexOf('_');
        return us > 0 && (slash < 0 || us < slash) ? (key[..us], key[(us + 1)..]) : (Default, key);
    }

    public static string InstanceName(string key) => SplitInstance(key).Name;

    public static string InstanceProject(string key) => SplitInstance(key).Project;

    public static bool InProject(string instanceKey, string project) => SplitInstance(instanceKey).Project == project;

    /// <summary>"/1.0/instances/NAME[/suffix][?project=P]" for an instance key, or a key with a "/snapshots/…" suffix.</summary>
    public static string InstanceUrl(string key)
    {
        var (project, name) = SplitInstance(key);
        return WithProject("/1.0/instances/" + name, project);
    }

    public static string Scoped(string project, string name) => project == Default ? name : project + "/" + name;

    /// <summary>(project, name) of a profile or alias key.</summary>
    public static (string Project, string Name) SplitScoped(string key)
    {
        var slash = key.IndexOf('/');
        return slash > 0 ? (key[..slash], key[(slash + 1)..]) : (Default, key);
    }

    /// <summary>
    /// The project whose custom volumes a project uses: its own with <c>features.storage.volumes</c>
    /// (LXD's StorageVolumeProject), else default's.
    /// </summary>
    public static string VolumeProject(string project, IReadOnlyDictionary<string, string> config) =>
        project == Default || config.GetValueOrDefault("features.storage.volumes") == "true" ? project : Default;

    /// <summary>
    /// "/1.0/storage-pools/POOL/volumes/TYPE/NAME[suffix][?project=P]" for a volume's storage key: a custom
    /// volume's scoped key, an instance volume's instance key, an image volume's fingerprint.
    /// </summary>
    public static string VolumeUrl(string pool, string type, string key, string suffix = "")
    {
        var (project, name) = SplitVolume(type, key);
        return VolumeUrlOf(pool, type, project, name, suffix);
    }

    /// <summary>The same URL from what a client sees of the volume: its project and name.</summary>
    public static string VolumeUrlOf(string pool, string type, string project, string name, string suffix = "") =>
        WithProject($"/1.0/storage-pools/{Uri.EscapeDataString(pool)}/volumes/{type}/{Uri.EscapeDataString(name)}{suffix}", project);

    /// <summary>(project, name) of a volume's storage key: a custom volume's is scoped, an instance volume's the instance's, an image volume's the default project's.</summary>
    public static (string Project, string Name) SplitVolume(string type, string key) => type switch
    {
        "custom" => SplitScoped(key),
        "container" or "virtual-machine" => SplitInstance(key),
        _ => (Default, key),
    };

    public static string ProfileUrl(string key)
    {
        var (project, name) = SplitScoped(key);
        return WithProject("/1.0/profiles/" + Uri.EscapeDataString(name), project);
    }

    public static string WithProject(string url, string project) =>
        project == Default ? url : url + (url.Contains('?') ? "&" : "?") + "project=" + Uri.EscapeDataString(project);

    /// <summary>The project a URL this daemon produced names (its <c>?project=</c>, else default).</summary>
    public static string ProjectOfUrl(string url)
    {
        var q = url.IndexOf("?project=", StringComparison.Ordinal);
        if (q < 0)
        {
            q = url.IndexOf("&project=", StringComparison.Ordinal);
        }
        if (q < 0)
        {
            return Default;
        }
        var value = url[(q + 9)..];
        var amp = value.IndexOf('&');
        return Uri.UnescapeDataString(amp < 0 ? value : value[..amp]);
    }

    /// <summary>LXD 5.0.2's project name rules (lxd/api_project.go projectValidateName).</summary>
    public static void ValidateProjectName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new BadRequestException("No name provided");
        }
        if (name.Contains('/'))
        {
            throw new BadRequestException("Project names may not contain slashes");
        }
        if (name.Contains(' '))
        {
            throw new BadRequestException("Project names may not contain spaces");
        }
        if (name.Contains('_'))
        {
            throw new BadRequestException("Project names may not contain underscores");
        }
        if (name.Contains('\'') || name.Contains('"'))
        {
            throw new BadRequestException("Project names may not contain quotes");
        }
        if (name == "*")
        {
            throw new BadRequestException("Reserved project name");
        }
        if (name is "." or ".." || name.Any(c => char.IsControl(c) || c is '?' or '&' or '#'))
        {
            throw new BadRequestException($"Invalid project name \"{name}\"");
        }
    }
}
