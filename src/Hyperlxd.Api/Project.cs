namespace Hyperlxd.Api;

public sealed class Project
{
    public string Name { get; set; } = "default";
    public string Description { get; set; } = "Default LXD project";
    public Dictionary<string, string> Config { get; set; } = new();
    public List<string> UsedBy { get; set; } = new();
}

/// <summary>POST /1.0/projects.</summary>
public sealed class ProjectsPost
{
    public string? Name { get; set; }
    public string? Description { get; set; }
    public Dictionary<string, string>? Config { get; set; }
}

/// <summary>PUT/PATCH /1.0/projects/NAME (absent fields: PUT clears them, PATCH keeps them).</summary>
public sealed class ProjectPut
{
    public string? Description { get; set; }
    public Dictionary<string, string>? Config { get; set; }
}

/// <summary>POST /1.0/projects/NAME (rename).</summary>
public sealed class ProjectPost
{
    public string? Name { get; set; }
}

/// <summary>GET /1.0/projects/NAME/state: usage against the project's limits (limit -1: none).</summary>
public sealed class ProjectState
{
    public Dictionary<string, ProjectStateResource> Resources { get; set; } = new();
}

public sealed class ProjectStateResource
{
    public long Limit { get; set; }
    public long Usage { get; set; }
}
