namespace Hyperlxd.Core;

/// <summary>Name rules as LXD applies them, so names that work there work here and no others.</summary>
public static class Names
{
    /// <summary>Profiles, storage pools, volumes: anything but empty, slashes, "." and "..", whitespace or control characters.</summary>
    public static void ValidateEntityName(string kind, string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new BadRequestException($"No name provided for {kind}");
        }
        if (name.Contains('/'))
        {
            throw new BadRequestException($"Invalid {kind} name \"{name}\": names may not contain slashes");
        }
        if (name is "." or "..")
        {
            throw new BadRequestException($"Invalid {kind} name \"{name}\"");
        }
        if (name.Length > 255)
        {
            throw new BadRequestException($"Invalid {kind} name: longer than 255 characters");
        }
        foreach (var c in name)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c))
            {
                throw new BadRequestException($"Invalid {kind} name \"{name}\": names may not contain white space or control characters");
            }
        }
    }

    /// <summary>
    /// A custom volume's storage key (<see cref="ProjectKeys"/>: "project/name" outside the default project),
    /// checked on its name part; the HTTP layer checks what users send before it makes a key.
    /// </summary>
    public static void ValidateVolumeKey(string? key)
    {
        var (project, name) = key is null ? (ProjectKeys.Default, null) : ProjectKeys.SplitScoped(key);
        if (project != ProjectKeys.Default)
        {
            ProjectKeys.ValidateProjectName(project);
        }
        ValidateEntityName("storage volume", name);
    }

    /// <summary>
    /// Instance names are hostnames: 1-63 letters, digits and hyphens, not starting with a digit or hyphen,
    /// not ending with a hyphen. Layers below HTTP see storage keys: a non-default project's "p_name"
    /// (<see cref="ProjectKeys"/>) is checked on its name part; the HTTP layer checks what users send.
    /// </summary>
    public static void ValidateInstanceName(string? name)
    {
        if (name is not null && ProjectKeys.SplitInstance(name) is { Project: not ProjectKeys.Default } key)
        {
            ValidateUserInstanceName(key.Name);
            return;
        }
        ValidateUserInstanceName(name);
    }

    /// <summary>An instance name as a client sends it (no project prefix possible).</summary>
    public static void ValidateUserInstanceName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new BadRequestException("No name provided for instance");
        }
        if (name.Length > 63)
        {
            throw new BadRequestException($"Invalid instance name \"{name}\": longer than 63 characters");
        }
        if (name[0] == '-' || char.IsAsciiDigit(name[0]) || name[^1] == '-')
        {
            throw new BadRequestException($"Invalid instance name \"{name}\": must not start with a digit or hyphen nor end with a hyphen");
        }
        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '-')
            {
                throw new BadRequestException($"Invalid instance name \"{name}\": only letters, digits and hyphens are allowed");
            }
        }
    }
}
