using System.Diagnostics;
using Hyperlxd.Interop.Linux;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Hyperlxd.State.Embedded;

/// <summary>
/// The default database: a PostgreSQL cluster under <c>$HYPERLXD_DIR/database</c> that this process
/// initdb's, starts as an unprivileged user (postgres refuses root), reaches only through a unix
/// socket in a 0700 directory, restarts with backoff when it dies, and stops on shutdown.
/// </summary>
public sealed partial class EmbeddedPostgres : IAsyncDisposable
{
    public const string DatabaseName = "hyperlxd";

    /// <summary>The PostgreSQL superuser role; fixed, whichever system account runs the server (older clusters have it).</summary>
    public const string RoleName = "hyperlxd";

    private readonly string _root;
    private readonly SystemUser _user;
    private readonly ILogger _logger;
    private readonly object _logLock = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly string _bin;
    private Process? _process;
    private Task? _supervisor;
    private StreamWriter? _log;

    public EmbeddedPostgres(string root, string userName, ILogger logger)
    {
        _root = root;
        _logger = logger;
        _user = SystemUser.Lookup(userName);
        _bin = FindBinDir();
    }

    public string DataDir => Path.Combine(_root, "data");

    /// <summary>The socket lives in <c>_root</c> itself (0700, owned by the database user).</summary>
    public string SocketDir => _root;

    public string ConnectionString => new NpgsqlConnectionStringBuilder
    {
        Host = SocketDir,
        Username = RoleName,
        Database = DatabaseName,
        Pooling = true,
        MaxPoolSize = 20,
        Timeout = 5,
        NoResetOnClose = true,
    }.ConnectionString;

    /// <summary>Process id of the running postmaster (tests use it to kill the server).</summary>
    public int? Pid => _process is { HasExited: false } p ? p.Id : null;

    /// <summary>Fires after the supervisor has restarted the server.</summary>
    public event Action? Restarted;

    /// <summary>The newest PostgreSQL whose server binaries are installed (Debian layout).</summary>
    public static string FindBinDir()
    {
        var versions = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Where(d => File.Exists(Path.Combine(d, "bin", "postgres")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0)
                .ToList()
            : new List<string>();
        return versions.Count > 0
            ? Path.Combine(versions[0], "bin")
            : throw new InvalidOperationException("PostgreSQL server binaries not found under /usr/lib/postgresql (install the \"postgresql\" package)");
    }

    public async Task StartAsync(CancellationToken ct)
    {
        PrepareDirectories();
        _log = new StreamWriter(new FileStream(Path.Combine(_root, "postgres.log"), FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        if (!File.Exists(Path.Combine(DataDir, "PG_VERSION")))
        {
            await InitDbAsync(ct);
        }
        await StopStaleServerAsync(ct);
        await LaunchAsync(ct);
        await EnsureDatabaseAsync(ct);
        _supervisor = Task.Run(SuperviseAsync, CancellationToken.None);
    }

    private void PrepareDirectories()
    {
        // The database user must be able to reach its directory: every parent needs o+x.
        for (var dir = Path.GetDirectoryName(_root); !string.IsNullOrEmpty(dir) && dir != "/"; dir = Path.GetDirectoryName(dir))
        {
            var mode = File.GetUnixFileMode(dir);
            if ((mode & UnixFileMode.OtherExecute) == 0)
            {
                throw new InvalidOperationException($"Directory \"{dir}\" is not searchable by the database user \"{_user.Name}\" (mode {Convert.ToString((int)mode, 8)}): it needs o+x");
            }
        }
        Directory.CreateDirectory(_root);
        Directory.CreateDirectory(DataDir);
        if (_user.OwnsNot(DataDir))
        {
            // An install from before the database had its own account: hand the cluster over.
            _logger.LogInformation("Moving the database in {Dir} to the system user {User}", _root, _user.Name);
            _user.ChownTree(_root);
        }
        foreach (var dir in new[] { _root, DataDir })
        {
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            _user.Chown(dir);
        }
    }

    private async Task InitDbAsync(CancellationToken ct)
    {
        _logger.LogInformation("Initialising the database cluster in {DataDir}", DataDir);
        var r = await HostCommand.RunUncheckedAsync(Path.Combine(_bin, "initdb"),
            ["-D", DataDir, "-U", RoleName, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"], _user.CommandOptions(), ct);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"initdb failed ({r.ExitCode}): {r.Stderr}{r.Stdout}");
        }
    }

    /// <summary>A postmaster left behind by a daemon that crashed: stop it so that we supervise our own.</summary>
    private async Task StopStaleServerAsync(CancellationToken ct)
    {
        var pidFile = Path.Combine(DataDir, "postmaster.pid");
        if (!File.Exists(pidFile) || !int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var pid))
        {
            return;
        }
        string cmdline;
        try
        {
            cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
        }
        catch (IOException)
        {
            return;
        }
        if (!cmdline.Contains("postgres", StringComparison.Ordinal) || !cmdline.Contains(DataDir, StringComparison.Ordinal))
        {
            return;
        }
        _logger.LogWarning("Stopping a PostgreSQL server (pid {Pid}) left behind by an earlier daemon", pid);
        await Signals.StopProcessAsync(pid, TimeSpan.FromSeconds(30), ct);
    }

    private async Task LaunchAsync(CancellationToken ct)
    {
        var p = HostCommand.Start(Path.Combine(_bin, "postgres"), [
            "-D", DataDir, "-k", SocketDir,
            "-c", "listen_addresses=",
            "-c", "unix_socket_permissions=0700",
            "-c", "max_connections=50",
            "-c", "shared_buffers=16MB",
            "-c", "fsync=on",
            "-c", "synchronous_commit=on",
            "-c", "log_min_messages=warning",
            "-c", "log_destination=stderr"], _user.CommandOptions(), Redirect.Stdout | Redirect.Stderr);
        _process = p;
        _ = PumpAsync(p.StandardError);
        _ = PumpAsync(p.StandardOutput);
        await WaitReadyAsync(p, ct);
        _logger.LogInformation("PostgreSQL running (pid {Pid})", p.Id);
    }

    private async Task PumpAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (_logLock)
            {
                _log?.WriteLine(line);
            }
        }
    }

    private async Task WaitReadyAsync(Process p, CancellationToken ct)
    {
        var builder = new NpgsqlConnectionStringBuilder(ConnectionString) { Database = "postgres", Pooling = false };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (p.HasExited)
            {
                throw new InvalidOperationException($"PostgreSQL exited with code {p.ExitCode} while starting; see {Path.Combine(_root, "postgres.log")}");
            }
            try
            {
                await using var conn = new NpgsqlConnection(builder.ConnectionString);
                await conn.OpenAsync(ct);
                return;
            }
            catch (Exception e) when (e is NpgsqlException or IOException or System.Net.Sockets.SocketException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50, ct);
            }
        }
    }

    private async Task EnsureDatabaseAsync(CancellationToken ct)
    {
        var builder = new NpgsqlConnectionStringBuilder(ConnectionString) { Database = "postgres", Pooling = false };
        await using var conn = new NpgsqlConnection(builder.ConnectionString);
        await conn.OpenAsync(ct);
        await using var check = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", conn);
        check.Parameters.AddWithValue(DatabaseName);
        if (await check.ExecuteScalarAsync(ct) is null)
        {
            await using var create = new NpgsqlCommand($"CREATE DATABASE {DatabaseName}", conn);
            await create.ExecuteNonQueryAsync(ct);
        }
    }

    /// <summary>Restarts the server whenever it dies, backing off up to 10 s between attempts.</summary>
    private async Task SuperviseAsync()
    {
        var ct = _stopping.Token;
        var delay = TimeSpan.FromMilliseconds(100);
        while (!ct.IsCancellationRequested)
        {
            var p = _process!;
            try
            {
                await p.WaitForExitAsync(ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            _logger.LogWarning("PostgreSQL (pid {Pid}) exited with code {Code}; restarting", p.Id, p.ExitCode);
            p.Dispose();
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(delay, ct);
                    await LaunchAsync(ct);
                    delay = TimeSpan.FromMilliseconds(100);
                    Restarted?.Invoke();
                    break;
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (Exception e)
                {
                    // Typically the old backends still hold the shared memory block for a moment.
                    _logger.LogWarning("PostgreSQL restart failed, retrying in {Delay}: {Error}", delay, e.Message);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
                }
            }
        }
    }

    public async Task StopAsync()
    {
        _stopping.Cancel();
        if (_supervisor is not null)
        {
            await _supervisor;
        }
        if (_process is { } p)
        {
            if (!p.HasExited)
            {
                await Signals.StopProcessAsync(p.Id, TimeSpan.FromSeconds(30), CancellationToken.None);
                await p.WaitForExitAsync();
            }
            p.Dispose();
            _process = null;
        }
        _logger.LogInformation("PostgreSQL stopped");
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process?.Dispose(); // null after StopAsync; says who owns it
        _stopping.Dispose();
        _log?.Dispose();
    }
}
