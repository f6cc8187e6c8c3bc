using YamlDotNet.Serialization;

namespace Hyperlxd.Cli.Client;

/// <summary>One entry of <c>remotes:</c> in config.yml (same keys as lxc's config.yml).</summary>
public sealed class RemoteEntry
{
    [YamlMember(Alias = "addr")] public string Addr { get; set; } = "";
    [YamlMember(Alias = "protocol")] public string Protocol { get; set; } = "lxd";
    [YamlMember(Alias = "public")] public bool Public { get; set; }

    public bool IsUnix => Addr.StartsWith("unix:", StringComparison.Ordinal);
}

/// <summary>
/// The client's config directory: config.yml (remotes and default remote), client.crt/client.key
/// and servercerts/NAME.crt (pinned server certificates).
/// </summary>
public sealed class RemoteConfig
{
    public const string LocalName = "local";
    public const string LocalAddr = "unix://";

    [YamlMember(Alias = "default-remote")] public string DefaultRemote { get; set; } = LocalName;
    [YamlMember(Alias = "remotes")] public Dictionary<string, RemoteEntry> Remotes { get; set; } = new(StringComparer.Ordinal);

    [YamlIgnore] public string Dir { get; private set; } = "";

    [YamlIgnore] public string ConfigPath => Path.Combine(Dir, "config.yml");
    [YamlIgnore] public string ClientCertPath => Path.Combine(Dir, "client.crt");
    [YamlIgnore] public string ClientKeyPath => Path.Combine(Dir, "client.key");

    public string ServerCertPath(string remote) => Path.Combine(Dir, "servercerts", remote + ".crt");

    /// <summary>$HLX_CONF, else ~/.config/hlx.</summary>
    public static string DefaultDir(Func<string, string?> env)
    {
        var conf = env("HLX_CONF");
        if (!string.IsNullOrEmpty(conf))
            return conf;
        var home = env("HOME");
        if (string.IsNullOrEmpty(home))
            home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(home, ".config", "hlx");
    }

    /// <summary>Reads config.yml; a missing file gives the defaults (just the local unix socket).</summary>
    public static RemoteConfig Load(string dir)
    {
        var path = Path.Combine(dir, "config.yml");
        RemoteConfig config;
        if (File.Exists(path))
        {
            try
            {
                var deserializer = new DeserializerBuilder().IgnoreUnmatchedProperties().Build();
                config = deserializer.Deserialize<RemoteConfig?>(File.ReadAllText(path)) ?? new RemoteConfig();
            }
            catch (YamlDotNet.Core.YamlException e)
            {
                throw new CliException($"Failed to parse {path}: {e.Message}", e);
            }

            // YamlDotNet replaces the dictionary, losing the ordinal comparer and allowing nulls.
            config.Remotes = new Dictionary<string, RemoteEntry>(
                (config.Remotes ?? new()).Where(kv => kv.Value is not null), StringComparer.Ordinal);
            if (string.IsNullOrEmpty(config.DefaultRemote))
                config.DefaultRemote = LocalName;
        }
        else
        {
            config = new RemoteConfig();
            config.Remotes[LocalName] = new RemoteEntry { Addr = LocalAddr };
        }

        config.Dir = dir;
        return config;
    }

    public void Save()
    {
        Directory.CreateDirectory(Dir);
        var yaml = new SerializerBuilder().Build().Serialize(this);

        // Write then rename so an interrupted save never leaves a truncated config behind.
        var tmp = ConfigPath + ".tmp";
        File.WriteAllText(tmp, yaml);
        File.Move(tmp, ConfigPath, overwrite: true);
    }

    public RemoteEntry Get(string name) =>
        Remotes.TryGetValue(name, out var remote)
            ? remote
            : throw new CliException($"The remote \"{name}\" doesn't exist");

    /// <summary>
    /// Splits <c>REMOTE:NAME</c> the way lxc does: the part before the first colon is a remote
    /// (which must exist); without a colon the default remote is used.
    /// </summary>
    public (string Remote, string Name) ParseRemote(string arg)
    {
        var colon = arg.IndexOf(':');
        if (colon < 0)
            return (DefaultRemote, arg);

        var remote = arg[..colon];
        if (remote.Length == 0)
            throw new CliException($"Missing remote name in \"{arg}\"");
        Get(remote);
        return (remote, arg[(colon + 1)..]);
    }
}
