namespace Hyperlxd.Api;

public sealed class Project
{
    public string Name { get; set; } = "default";
    public string Description { get; set; } = "Default LXD project";
    public Dictionary<string, string> Config { get; set; } = new();
    public List<string> UsedBy { get; set; } = new();
}
