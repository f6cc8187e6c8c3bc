using System.Diagnostics;
using System.Text;

namespace Hyperlxd.Tests.Infrastructure;

/// <summary>
/// A real <c>hyperlxd daemon</c> on a private state directory with its embedded PostgreSQL, started
/// from the published binary. Disposal stops it and removes the directory.
/// </summary>
/// <remarks>
/// By default the daemon runs in a network namespace of its own (<see cref="NetnsName"/>), created at
/// its first start and rejoined by restarts: the bridges, nftables table, dnsmasq and container
/// traffic of its managed networks stay there, never on the host (these machines allow no packet
/// outside loopback and namespaces a run made). Its clients (<see cref="LxcAsync"/>,
/// <see cref="RunInNetnsAsync"/>, <see cref="ApiClient.Https"/> with the name) run there too, so
/// HTTPS on 127.0.0.1 is the daemon's loopback. Disposal kills what is left in the namespace
/// (dnsmasq and proxy forwarders outlive the daemon by design) and deletes it. A host-network
/// daemon is for tests that need the test process's own loopback; it refuses <c>init</c>, which
/// would make a bridge on the host.
/// </remarks>
public sealed class DaemonProcess : IAsyncDisposable
{
    private readonly StringBuilder _log = new();
    private Process? _process;
    private bool _netnsCreated;

    private DaemonProcess(string dir, bool hostNetwork)
    {
        Dir = dir;
        LxdConf = Repo.TempDir("hlx-lxdconf-");
        NetnsName = hostNetwork ? null : "hlxd-" + Guid.NewGuid().ToString("N")[..10];
    }

    /// <summary>The daemon's network namespace (<c>/run/netns/NAME</c>), or null for a host-network daemon.</summary>
    public string? NetnsName { get; }

    public bool HostNetwork => NetnsName is null;

    public string Dir { get; }
    public string LxdConf { get; }
    public string Socket => Path.Combine(Dir, "unix.socket");
    public ApiClient Api { get; private set; } = null!;
    public int Pid => _process!.Id;
    public bool HasExited => _process!.HasExited;

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public Dictionary<string, string> Env => new() { ["HYPERLXD_DIR"] = Dir, ["LXD_DIR"] = Dir, ["LXD_CONF"] = LxdConf, ["HOME"] = LxdConf };

    /// <summary>Extra environment of the daemon process (e.g. HYPERLXD_CGROUP_BACKEND), kept across restarts.</summary>
    public Dictionary<string, string> DaemonEnv { get; } = new();

    public static async Task<DaemonProcess> StartAsync(string? dir = null, IReadOnlyDictionary<string, string>? daemonEnv = null, bool hostNetwork = false)
    {
        var d = new DaemonProcess(dir ?? Repo.TempDir("hlxd-test-"), hostNetwork);
        foreach (var (k, v) in daemonEnv ?? new Dictionary<string, string>())
        {
            d.DaemonEnv[k] = v;
        }
        try
        {
            await d.StartAsync();
        }
        catch
        {
            await d.DisposeAsync();
            throw;
        }
        return d;
    }

    /// <summary>A daemon not started yet (a test that watches its start calls <see cref="StartAsync()"/> itself).</summary>
    public static DaemonProcess Create(string? dir = null, bool hostNetwork = false) => new(dir ?? Repo.TempDir("hlxd-test-"), hostNetwork);

    public async Task StartAsync()
    {
        await EnsureNetnsAsync();
        // nsenter execs the daemon: the Process's pid is the daemon's own (kill -9 tests signal it).
        // Not `ip netns exec`, which also unshares the mount namespace.
        var psi = new ProcessStartInfo(NetnsName is null ? Repo.DaemonBinary : "nsenter")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in InNetns(Repo.DaemonBinary, ["daemon"]).Args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["HYPERLXD_DIR"] = Dir;
        psi.Environment.Remove("HYPERLXD_DATABASE_URL");
        foreach (var (k, v) in DaemonEnv)
        {
            psi.Environment[k] = v;
        }
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => Append(e.Data);
        p.ErrorDataReceived += (_, e) => Append(e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _process = p;
        var ready = await ProcessRunner.RunAsync(Repo.DaemonBinary, new[] { "waitready", "--timeout", "90" }, Env);
        if (ready.ExitCode != 0)
        {
            throw new InvalidOperationException($"daemon did not become ready: {ready}\n{Log}");
        }
        Api?.Dispose();
        Api = ApiClient.Unix(Socket);
    }

    private async Task EnsureNetnsAsync()
    {
        if (NetnsName is null || _netnsCreated)
        {
            return;
        }
        await MustAsync("ip", "netns", "add", NetnsName);
        _netnsCreated = true;
        await MustAsync("ip", "-n", NetnsName, "link", "set", "lo", "up");
    }

    private static async Task MustAsync(string program, params string[] args)
    {
        var r = await ProcessRunner.RunAsync(program, args);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)}: {r}");
        }
    }

    /// <summary>The command line that runs <paramref name="program"/> in the daemon's network namespace.</summary>
    private (string Program, string[] Args) InNetns(string program, IEnumerable<string> args) =>
        NetnsName is null ? (program, args.ToArray()) : ("nsenter", [$"--net=/run/netns/{NetnsName}", "--", program, .. args]);

    /// <summary>
    /// Runs a program in the daemon's network namespace (the "host side" of its bridges: ping, curl,
    /// nft list, a client over HTTPS), or plainly for a host-network daemon.
    /// </summary>
    public Task<ProcessResult> RunInNetnsAsync(string program, IEnumerable<string> args, IDictionary<string, string>? env = null,
        string? stdin = null, TimeSpan? timeout = null)
    {
        var (p, a) = InNetns(program, args);
        return ProcessRunner.RunAsync(p, a, env, stdin, timeout);
    }

    /// <summary>Pids of every process in the daemon's network namespace (the daemon, dnsmasq, forwarders).</summary>
    public async Task<IReadOnlyList<int>> NetnsPidsAsync()
    {
        if (NetnsName is null)
        {
            throw new InvalidOperationException("a host-network daemon has no namespace of its own");
        }
        var r = await ProcessRunner.RunAsync("ip", ["netns", "pids", NetnsName]);
        return r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
    }

    /// <summary>Kills what is left in the namespace (after the daemon stopped) and deletes it.</summary>
    private async Task RemoveNetnsAsync()
    {
        if (NetnsName is null || !_netnsCreated)
        {
            return;
        }
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var pids = await NetnsPidsAsync();
            if (pids.Count == 0)
            {
                break;
            }
            foreach (var pid in pids)
            {
                _ = Tmds.Linux.LibC.kill(pid, Tmds.Linux.LibC.SIGKILL);
            }
            await Task.Delay(100);
        }
        await MustAsync("ip", "netns", "delete", NetnsName);
        _netnsCreated = false;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.AppendLine(line);
            }
        }
    }

    /// <summary>SIGTERM and wait: the graceful path.</summary>
    public async Task StopAsync()
    {
        if (_process is { HasExited: false } p)
        {
            _ = Tmds.Linux.LibC.kill(p.Id, Tmds.Linux.LibC.SIGTERM);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await p.WaitForExitAsync(cts.Token);
        }
    }

    public async Task KillAsync()
    {
        _process!.Kill();
        await _process.WaitForExitAsync();
    }

    /// <summary>The running postmaster, from its pid file.</summary>
    public int PostgresPid =>
        int.Parse(File.ReadLines(Path.Combine(Dir, "database", "data", "postmaster.pid")).First());

    /// <summary>Processes whose command line mentions this daemon's state directory (postgres and its children).</summary>
    public IReadOnlyList<int> ProcessesUsingDir()
    {
        var result = new List<int>();
        foreach (var proc in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), out var pid))
            {
                continue;
            }
            try
            {
                var status = File.ReadAllText(Path.Combine(proc, "status"));
                if (status.Contains("State:\tZ", StringComparison.Ordinal))
                {
                    continue;
                }
                var cmd = File.ReadAllText(Path.Combine(proc, "cmdline")).Replace('\0', ' ');
                if (cmd.Contains(Dir + "/", StringComparison.Ordinal) && pid != Environment.ProcessId && !cmd.Contains("waitready", StringComparison.Ordinal))
                {
                    result.Add(pid);
                }
            }
            catch (IOException)
            {
            }
        }
        return result;
    }

    /// <summary>Reads the daemon's embedded database directly, as its system user would.</summary>
    public async Task<string?> QueryScalarAsync(string sql)
    {
        await using var conn = await OpenDatabaseAsync();
        return await QueryScalarAsync(conn, sql);
    }

    /// <summary>A connection of its own to the embedded database (for tests that query it in a tight loop).</summary>
    public async Task<Npgsql.NpgsqlConnection> OpenDatabaseAsync()
    {
        var cs = new Npgsql.NpgsqlConnectionStringBuilder { Host = Path.Combine(Dir, "database"), Username = "hyperlxd", Database = "hyperlxd", Pooling = false };
        var conn = new Npgsql.NpgsqlConnection(cs.ConnectionString);
        await conn.OpenAsync();
        return conn;
    }

    public static async Task<string?> QueryScalarAsync(Npgsql.NpgsqlConnection conn, string sql)
    {
        await using var cmd = new Npgsql.NpgsqlCommand(sql, conn);
        return (await cmd.ExecuteScalarAsync())?.ToString();
    }

    /// <summary>
    /// Makes the daemon ready for containers the way a user would: <c>hyperlxd init --auto</c> (a
    /// "default" dir pool and a root disk) and <c>lxc image import</c> of the busybox image as <paramref name="alias"/>.
    /// </summary>
    public async Task PrepareContainersAsync(string busyboxTarball, string alias = "busybox")
    {
        var init = await HyperlxdAsync(null, "init", "--auto");
        if (init.ExitCode != 0)
        {
            throw new InvalidOperationException("hyperlxd init --auto failed: " + init);
        }
        var import = await LxcAsync("image", "import", busyboxTarball, "--alias", alias);
        if (import.ExitCode != 0)
        {
            throw new InvalidOperationException("lxc image import failed: " + import);
        }
    }

    /// <summary>Force-deletes every instance of every project (containers outlive the daemon, so a fixture removes them before it stops).</summary>
    public async Task DeleteAllInstancesAsync()
    {
        var list = await Api.GetAsync("/1.0/instances?all-projects=true");
        foreach (var url in list.Metadata.EnumerateArray().Select(e => e.GetString()!))
        {
            // "/1.0/instances/NAME" or, in another project, "/1.0/instances/NAME?project=P".
            var path = url.Split('?')[0];
            var project = url.Contains("?project=", StringComparison.Ordinal) ? Uri.UnescapeDataString(url[(url.IndexOf("?project=", StringComparison.Ordinal) + 9)..]) : "default";
            await LxcAsync("delete", "--force", "--project", project, path[(path.LastIndexOf('/') + 1)..]);
        }
    }

    public Task<ProcessResult> LxcAsync(params string[] args) => RunInNetnsAsync("lxc", args, Env);

    /// <summary>Runs lxc expecting success; its stdout.</summary>
    public async Task<string> LxcOkAsync(params string[] args)
    {
        var r = await LxcAsync(args);
        Xunit.Assert.True(r.ExitCode == 0, $"lxc {string.Join(' ', args)}: {r}");
        return r.Stdout;
    }

    /// <summary>Runs lxc expecting a refusal; what it printed (stderr, then stdout) for the test to check the reason.</summary>
    public async Task<string> LxcFailsAsync(params string[] args)
    {
        var r = await LxcAsync(args);
        Xunit.Assert.True(r.ExitCode != 0, $"lxc {string.Join(' ', args)} should fail: {r}");
        return r.Stderr + r.Stdout;
    }

    public Task<ProcessResult> HyperlxdAsync(string? stdin, params string[] args)
    {
        if (HostNetwork && args.FirstOrDefault() == "init")
        {
            throw new InvalidOperationException("hyperlxd init on a host-network test daemon would create its default bridge on the host");
        }
        return RunInNetnsAsync(Repo.DaemonBinary, args, Env, stdin);
    }

    /// <summary>Runs a script with Debian's python3 (the one with pylxd 2.2.10).</summary>
    public Task<ProcessResult> PythonAsync(string script) => RunInNetnsAsync("/usr/bin/python3", new[] { "-c", script }, Env);

    /// <summary>
    /// The daemon's (empty) cgroup parent in every hierarchy, named as DaemonOptions.CgroupParent
    /// names it for a non-default state directory: tests leave no cgroups behind.
    /// </summary>
    private void RemoveCgroupParents()
    {
        var parent = "hyperlxd-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(Dir))))[..8];
        foreach (var hierarchy in Directory.GetDirectories("/sys/fs/cgroup").Append("/sys/fs/cgroup"))
        {
            try
            {
                Directory.Delete(Path.Combine(hierarchy, parent));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Not there, or still holding a container another assertion will report.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Api?.Dispose();
        try
        {
            await StopAsync();
        }
        catch (OperationCanceledException)
        {
            _process?.Kill(true);
        }
        _process?.Dispose();
        await RemoveNetnsAsync();
        RemoveCgroupParents();
        foreach (var dir in new[] { Dir, LxdConf })
        {
            try
            {
                Directory.Delete(dir, true);
            }
            catch (IOException)
            {
            }
        }
    }
}

/// <summary>One daemon shared by the API tests of a collection (startup costs a PostgreSQL initdb).</summary>
public sealed class SharedDaemon : IAsyncLifetime
{
    public DaemonProcess Daemon { get; private set; } = null!;
    public int HttpsPort { get; } = Repo.FreeTcpPort();

    public async Task InitializeAsync()
    {
        Daemon = await DaemonProcess.StartAsync();
        var r = await Daemon.Api.PatchAsync("/1.0", $$$"""{"config":{"core.https_address":"127.0.0.1:{{{HttpsPort}}}","core.trust_password":"s3cret"}}""");
        if (r.Status != System.Net.HttpStatusCode.OK)
        {
            throw new InvalidOperationException("cannot configure HTTPS: " + r);
        }
    }

    public async Task DisposeAsync() => await Daemon.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class SharedDaemonCollection : ICollectionFixture<SharedDaemon>
{
    public const string Name = "shared daemon";
}
