namespace Hyperlxd.Daemon;

/// <summary>Settings that must be known before the database is reachable, hence not in the server config.</summary>
public sealed class DaemonOptions
{
    public required string StateDir { get; init; }
    public string? DatabaseUrl { get; init; }

    /// <summary>How long one database unit of work may take before requests get 503 (null: the default, 30 s).</summary>
    public TimeSpan? DatabaseTimeout { get; init; }

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
    public long IdmapBase { get; init; } = Subordinate.Value.Start;

    /// <summary>How many ids that range holds (the smaller of the two files; LXD's default: 1000000000).</summary>
    public long IdmapRangeSize { get; init; } = Subordinate.Value.Count;

    public const long IdmapSize = 65536;

    private static readonly Lazy<(long Start, long Count)> Subordinate = new(() =>
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
            ? (u.Start, Math.Min(u.Count, g.Count))
            : (1_000_000, 1_000_000_000);
    });

    public static string DefaultStateDir => Environment.GetEnvironmentVariable("HYPERLXD_DIR") is { Length: > 0 } d ? d : DefaultDir;

    /// <summary>
    /// <c>HYPERLXD_DATABASE_URL</c> wins over <c>database.url</c> in <c>$HYPERLXD_DIR/daemon.yaml</c>;
    /// neither means the embedded server. <c>database.timeout</c> (seconds) bounds each database unit of work.
    /// </summary>
    public static DaemonOptions Load(string stateDir)
    {
        string? url = Environment.GetEnvironmentVariable("HYPERLXD_DATABASE_URL");
        TimeSpan? timeout = null;
        var file = Path.Combine(stateDir, "daemon.yaml");
        if (File.Exists(file))
        {
            var yaml = Api.YamlJson.ToJson(File.ReadAllText(file)) as System.Text.Json.Nodes.JsonObject ?? new();
            foreach (var (key, _) in yaml.Where(kv => kv.Key is not ("database.url" or "database.timeout")))
            {
                throw new InvalidOperationException($"Unknown key \"{key}\" in {file}");
            }
            if (string.IsNullOrEmpty(url))
            {
                url = yaml["database.url"]?.ToString();
            }
            if (yaml["database.timeout"]?.ToString() is { } t)
            {
                timeout = double.TryParse(t, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
                    && seconds >= 1 && seconds <= 3600
                    ? TimeSpan.FromSeconds(seconds)
                    : throw new InvalidOperationException($"Invalid \"database.timeout\" in {file}: \"{t}\" is not a number of seconds from 1 to 3600");
            }
        }
        return new DaemonOptions
        {
            StateDir = Path.GetFullPath(stateDir),
            DatabaseUrl = string.IsNullOrEmpty(url) ? null : url,
            DatabaseTimeout = timeout,
        };
    }
}
