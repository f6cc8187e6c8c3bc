namespace Hyperlxd.Cli.Commands;

/// <summary>`set k=v` and `unset k` on a config map, the same for profiles, instances, pools and volumes.</summary>
internal static class ConfigEdits
{
    /// <summary>An empty value unsets the key, as LXD does.</summary>
    public static void Set(Dictionary<string, string> config, IEnumerable<KeyValuePair<string, string>> values)
    {
        foreach (var (key, value) in values)
        {
            if (value.Length == 0)
                config.Remove(key);
            else
                config[key] = value;
        }
    }

    public static void Unset(Dictionary<string, string> config, string key)
    {
        if (!config.Remove(key))
            throw new CliException($"Can't unset key '{key}', it's not currently set");
    }
}
