namespace Hyperlxd.Core.Config;

/// <summary>
/// How a PUT or PATCH body changes the config and devices of an instance or a profile (LXD): PUT
/// replaces both; PATCH merges config keys and devices into what is there. Either way "" (or JSON
/// null) means "unset", as LXD stores no empty value.
/// </summary>
public static class ConfigPatch
{
    /// <summary>The keys a request sets: the empty values dropped.</summary>
    public static Dictionary<string, string> Set(Dictionary<string, string>? config) =>
        (config ?? new()).Where(kv => kv.Value.Length > 0).ToDictionary();

    /// <summary>The config after the request: <paramref name="current"/> is not modified.</summary>
    public static Dictionary<string, string> Config(IReadOnlyDictionary<string, string> current, Dictionary<string, string>? request, bool patch)
    {
        if (!patch)
        {
            return Set(request);
        }
        var next = new Dictionary<string, string>(current);
        foreach (var (k, v) in request ?? new())
        {
            if (v.Length == 0)
            {
                next.Remove(k);
            }
            else
            {
                next[k] = v;
            }
        }
        return next;
    }

    /// <summary>The devices after the request: a PATCH replaces each device it names whole, and keeps the others.</summary>
    public static Dictionary<string, Dictionary<string, string>> Devices(
        IReadOnlyDictionary<string, Dictionary<string, string>> current, Dictionary<string, Dictionary<string, string>>? request, bool patch)
    {
        if (!patch)
        {
            return request ?? new();
        }
        var next = current.ToDictionary(kv => kv.Key, kv => kv.Value);
        foreach (var (k, v) in request ?? new())
        {
            next[k] = v;
        }
        return next;
    }
}
