namespace Hyperlxd.Daemon;

/// <summary>Settings that must be known before the database is reachable, hence not in the server config.</summary>
public sealed class DaemonOptions
{
    public required string StateDir { get; init; }
    public string? DatabaseUrl { get; init; }
    /// <summary>The embedded PostgreSQL's system account: its own user and group, never in <see cref="SocketGroup"/>.</summary>
    public string DatabaseUser { get; init; } = "hyperlxd-db";

    /// <summary>Members of this group may use the API socket (root access to the host).</summary>
    public string SocketGroup { get; init; } = "hyperlxd";

    public string SocketPath => Path.Combine(StateDir, "unix.socket");

    public const string DefaultDir = "/var/lib/hyperlxd";

    /// <summary>
    /// Monitor sockets and state files. The host-wide daemon uses /run/hyperlxd; a daemon on another
    /// state directory (tests, a second daemon) keeps them in its own directory.
    /// </summary>
    public string RuntimeDir => IsDefault ? "/run/hyperlxd" : Path.Combine(StateDir, "run");

    /// <summary>The cgroup under which this daemon's containers live; unique per state directory.</summary>
    public string CgroupParent => IsDefault ? "hyperlxd" : "hyperlxd-" + Convert.ToHexStringLower(
        System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(StateDir)))[..8];

    private bool IsDefault => StateDir.TrimEnd('/') == DefaultDir;

    /// <summary>
    /// The host ids unprivileged containers map to (uid/gid 0 inside = the base): root's range in
    /// /etc/subuid and /etc/subgid, as LXD takes it, when both give the same start and at least
    /// 65536 ids; otherwise LXD's built-in default of 1000000.
    /// </summary>
    public long IdmapBase { get; init; } = SubordinateBase();

    public const long IdmapSize = 65536;

    private static long SubordinateBase()
    {
        static (long Start, long Count)? RootRange(string file)
        {
            if (!File.Exists(file))
            {
                return null;
            }
            foreach (var line in File.ReadLines(file))
            {
                var f = line.Split(':');
                if (f.Length == 3 && f[0] == "root" && long.TryParse(f[1], out var start) && long.TryParse(f[2], out var count))
                {
                    return (start, count);
                }
            }
            return null;
        }
        var uid = RootRange("/etc/subuid");
        var gid = RootRange("/etc/subgid");
        return uid is { } u && gid is { } g && u.Start == g.Start && u.Count >= IdmapSize && g.Count >= IdmapSize && u.Start > 0
            ? u.Start
            : 1_000_000;
    }

    public static string DefaultStateDir => Environment.GetEnvironmentVariable("HYPERLXD_DIR") is { Length: > 0 } d ? d : DefaultDir;

    /// <summary>
    /// <c>HYPERLXD_DATABASE_URL</c> wins over <c>database.url</c> in <c>$HYPERLXD_DIR/daemon.yaml</c>;
    /// neither means the embedded server.
    /// </summary>
    public static DaemonOptions Load(string stateDir)
    {
        string? url = Environment.GetEnvironmentVariable("HYPERLXD_DATABASE_URL");
        var file = Path.Combine(stateDir, "daemon.yaml");
        if (string.IsNullOrEmpty(url) && File.Exists(file))
        {
            var yaml = Api.YamlJson.ToJson(File.ReadAllText(file)) as System.Text.Json.Nodes.JsonObject ?? new();
            foreach (var (key, _) in yaml.Where(kv => kv.Key != "database.url"))
            {
                throw new InvalidOperationException($"Unknown key \"{key}\" in {file}");
            }
            url = yaml["database.url"]?.GetValue<string>();
        }
        return new DaemonOptions { StateDir = Path.GetFullPath(stateDir), DatabaseUrl = string.IsNullOrEmpty(url) ? null : url };
    }
}
