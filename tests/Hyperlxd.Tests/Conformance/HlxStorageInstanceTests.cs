using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>hlx's storage and instance verbs against a real daemon with a busybox container.</summary>
public sealed class HlxStorageInstanceTests : IAsyncLifetime
{
    private DaemonProcess _daemon = null!;
    private string _conf = null!;

    private static string Hlx => Path.Combine(Path.GetDirectoryName(Repo.DaemonBinary)!, "hlx");

    public async Task InitializeAsync()
    {
        await ImageFixture.EnsureImagesAsync();
        _daemon = await DaemonProcess.StartAsync();
        _conf = Repo.TempDir("hlx-conf-");
        var r = await _daemon.HyperlxdAsync(null, "init", "--auto");
        Assert.True(r.ExitCode == 0, r.ToString());
        r = await _daemon.LxcAsync("image", "import", ImageFixture.Busybox, "--alias", "busybox");
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        Directory.Delete(_conf, recursive: true);
    }

    private async Task<ProcessResult> RunAsync(params string[] args) =>
        await ProcessRunner.RunAsync(Hlx, args, new Dictionary<string, string>(_daemon.Env) { ["HLX_CONF"] = _conf });

    private async Task<ProcessResult> OkAsync(params string[] args)
    {
        var r = await RunAsync(args);
        Assert.True(r.ExitCode == 0, $"hlx {string.Join(' ', args)}: {r}\n{_daemon.Log}");
        return r;
    }

    [Fact]
    public async Task Hlx_manages_pools_and_custom_volumes_with_snapshots()
    {
        var r = await OkAsync("storage", "create", "hlx-pool", "dir");
        Assert.Equal("Storage pool hlx-pool created\n", r.Stdout);
        r = await OkAsync("storage", "list");
        Assert.Contains(r.Stdout.Split('\n'), l => l.StartsWith("| hlx-pool ", StringComparison.Ordinal) && l.Contains("| dir ") && l.Contains("CREATED"));

        await OkAsync("storage", "volume", "create", "hlx-pool", "v1", "user.k=v");
        await OkAsync("storage", "volume", "snapshot", "hlx-pool", "v1", "s1");
        r = await OkAsync("storage", "volume", "show", "hlx-pool", "v1/s1");
        Assert.Contains("name: s1", r.Stdout);
        r = await OkAsync("storage", "volume", "list", "hlx-pool");
        Assert.Contains(r.Stdout.Split('\n'), l => l.StartsWith("| custom ", StringComparison.Ordinal) && l.Contains("| v1 "));
        await OkAsync("storage", "volume", "restore", "hlx-pool", "v1", "s1");

        // Bad input: a clear error, exit 1, and nothing made.
        r = await RunAsync("storage", "volume", "snapshot", "hlx-pool", "missing", "s1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("not found", r.Stderr, StringComparison.OrdinalIgnoreCase);
        r = await RunAsync("storage", "volume", "create", "hlx-pool");
        Assert.Equal(2, r.ExitCode);

        await OkAsync("storage", "volume", "delete", "hlx-pool", "v1/s1");
        await OkAsync("storage", "volume", "delete", "hlx-pool", "v1");
        r = await OkAsync("storage", "volume", "list", "hlx-pool", "--format", "json");
        Assert.Equal("[]", r.Stdout.Trim());
        await OkAsync("storage", "delete", "hlx-pool");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await _daemon.Api.GetAsync("/1.0/storage-pools/hlx-pool")).Status);
    }

    [Fact]
    public async Task Hlx_launches_lists_execs_stops_and_deletes_a_container()
    {
        var r = await OkAsync("launch", "busybox", "hlx-c1", "-c", "user.note=hi");
        Assert.Equal("Creating hlx-c1\nStarting hlx-c1\n", r.Stdout);
        r = await OkAsync("list");
        Assert.Contains(r.Stdout.Split('\n'), l => l.StartsWith("| hlx-c1 ", StringComparison.Ordinal) && l.Contains("RUNNING") && l.Contains("CONTAINER"));

        r = await RunAsync("exec", "hlx-c1", "--", "sh", "-c", "echo out; echo err >&2; exit 3");
        Assert.True(r.ExitCode == 3, r.ToString());
        Assert.Equal("out\n", r.Stdout);
        Assert.Equal("err\n", r.Stderr);

        r = await OkAsync("config", "get", "hlx-c1", "user.note");
        Assert.Equal("hi\n", r.Stdout);

        // A running instance is not deleted without --force, and stays.
        r = await RunAsync("delete", "hlx-c1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("currently running", r.Stderr);

        await OkAsync("stop", "hlx-c1", "--force");
        r = await OkAsync("list", "--format", "json");
        Assert.Contains("\"status\":\"Stopped\"", r.Stdout);
        await OkAsync("delete", "hlx-c1");
        r = await OkAsync("list", "--format", "json");
        Assert.Equal("[]", r.Stdout.Trim());
    }
}
