using Hyperlxd.Core;
using Hyperlxd.Core.Snapshots;
using Hyperlxd.Instances.Templates;

namespace Hyperlxd.Instances.Snapshots;

/// <summary><c>snapshots.pattern</c>: a pongo2 template with <c>creation_date</c>, then LXD's <c>%d</c> numbering.</summary>
public static class SnapshotPattern
{
    /// <summary>The next snapshot name; an empty or unset pattern is <c>snap%d</c>. A pattern that cannot render is a 400.</summary>
    public static string Next(string? pattern, DateTimeOffset now, IReadOnlyCollection<string> existing)
    {
        pattern = string.IsNullOrEmpty(pattern) ? SnapshotNames.DefaultPattern : pattern;
        string rendered;
        try
        {
            rendered = Render(pattern, now);
        }
        catch (TemplateException e)
        {
            throw new BadRequestException($"Invalid value for config key \"snapshots.pattern\": {e.Message}");
        }
        return SnapshotNames.Next(rendered, existing);
    }

    /// <summary>The pattern rendered (LXD re-renders while the output still holds a tag; here at most a few times).</summary>
    public static string Render(string pattern, DateTimeOffset now)
    {
        var context = new Dictionary<string, object?> { ["creation_date"] = now };
        var s = Pongo.Render(pattern, context);
        for (var i = 0; i < 3 && (s.Contains("{{", StringComparison.Ordinal) || s.Contains("{%", StringComparison.Ordinal)); i++)
        {
            s = Pongo.Render(s, context);
        }
        return s;
    }
}
